"""The OCR parsers and the scoring rule on corpus cards, with the sandbox worker's default engine (Tesseract)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from filot_contract.documents import KTP_FIELDS, VerificationStatus, decide
from sandbox.ocr.normalize import date_ddmmyyyy, digits, strip_colon
from sandbox.ocr.rapid import bundled_model_params
from sandbox.ocr.recognize import ENGINES, load_engine, recognize
from sandbox.ocr.score import score_document

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "ktp"
PATHS = {"auto_approve": VerificationStatus.AUTO_APPROVED, "manual_review": VerificationStatus.MANUAL_REVIEW,
         "auto_reject": VerificationStatus.AUTO_REJECTED}


@pytest.fixture(scope="module")
def cards() -> dict[str, dict]:
    manifest = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
    return {card["file"]: card for card in manifest["cards"]}


@pytest.fixture(scope="module")
def tesseract():
    return load_engine("tesseract")


def _recognize(card: dict, engine):
    return recognize(card["documentType"], (CORPUS / card["file"]).read_bytes(), engine)


@pytest.mark.parametrize("file", ["ktp-clean-001.png", "ktp-clean-004.png", "ktp-clean-007.png"])
def test_clean_ktp_is_read_field_for_field(file: str, cards: dict, tesseract) -> None:
    card = cards[file]
    result = _recognize(card, tesseract)
    assert result.error is None, result.error
    wrong = {k: (v, result.fields.get(k)) for k, v in card["fields"].items() if result.fields.get(k) != v}
    assert result.fields.get("nik") == card["fields"]["nik"], wrong
    assert len(wrong) <= 1, f"{file}: (expected, read) {wrong}"
    assert set(result.field_confidence) <= set(KTP_FIELDS)


def test_npwp_number_name_and_address_are_read(cards: dict, tesseract) -> None:
    card = cards["npwp-clean-001.png"]
    assert _recognize(card, tesseract).fields == card["fields"]


@pytest.mark.parametrize("file", ["ktp-clean-002.png", "ktp-invalid-002.png", "ktp-degraded-002.jpg", "noncard-001.jpg"])
def test_score_takes_the_manifest_path(file: str, cards: dict, tesseract) -> None:
    card = cards[file]
    result = _recognize(card, tesseract)
    score, reasons = score_document(card["documentType"], result.fields, result.field_confidence, result.confidence)
    assert decide(score) == PATHS[card["expectedPath"]], f"{file}: score {score}, reasons {reasons}"


@pytest.mark.parametrize("file", ["truncated-001.jpg", "pdf-renamed-001.jpg", "blank-001.png", "noncard-001.jpg"])
def test_unusable_images_give_an_error_not_an_exception(file: str, cards: dict, tesseract) -> None:
    result = _recognize(cards[file], tesseract)
    assert result.error and not result.fields


def test_unknown_document_type_and_empty_bytes_give_an_error(tesseract) -> None:
    assert "expected one of KTP, NPWP" in recognize("SIM", b"", tesseract).error
    assert "empty upload" in recognize("KTP", b"", tesseract).error
    not_an_image = recognize("KTP", b"%PDF-1.7 not a card", tesseract).error
    assert "not a decodable image: 19 bytes starting 25 50 44 46" in not_an_image and "BytesIO" not in not_an_image


def test_unknown_engine_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="valid engines: " + ", ".join(sorted(ENGINES))):
        load_engine("easyocr")


def test_rapidocr_uses_the_models_inside_its_wheel() -> None:
    params = bundled_model_params()
    for key in ("Det.model_path", "Cls.model_path", "Rec.model_path"):
        assert Path(params[key]).is_file(), f"{key} -> {params[key]}"


def test_forged_nik_read_with_confidence_is_rejected_and_doubtful_one_reviewed(cards: dict) -> None:
    fields = cards["ktp-invalid-001.png"]["fields"]
    sure = {name: 0.95 for name in fields}
    assert score_document("KTP", fields, sure, 0.9)[0] <= 35
    assert 35 < score_document("KTP", fields, sure, 0.4)[0] < 85
    clean = cards["ktp-clean-001.png"]["fields"]
    assert score_document("KTP", clean, sure, 0.9) == (100.0, [])
    assert score_document("KTP", {}, {}, 0.0)[0] == 0


@pytest.mark.parametrize(("raw", "value"), [("24-O3-1993", "24-03-1993"), ("2403.1993", "24-03-1993"),
                                            ("32-01-1990", None), ("1 008/008", None)])
def test_dates_are_normalised(raw: str, value: str | None) -> None:
    assert date_ddmmyyyy(raw) == value


def test_digits_and_colons() -> None:
    assert digits("62IO1O24O3932222") == "6210102403932222"
    assert strip_colon("1 ANGGABAYA") == "ANGGABAYA" and strip_colon(": WNI") == "WNI"
    assert strip_colon("1: GUNUNG MAS") == "GUNUNG MAS"
