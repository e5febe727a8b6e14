"""The KTP/NPWP fixture corpus: manifest shape, ground-truth validity, NIK consistency, determinism."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image, UnidentifiedImageError
from stdnum.id import npwp as stdnum_npwp

from filot_contract.documents import AGAMA, GOL_DARAH, JENIS_KELAMIN, KEWARGANEGARAAN, KTP_FIELDS, NPWP_FIELDS, \
    STATUS_PERKAWINAN
from fixtures.ktp.generate import CORPUS, MANIFEST, generate, make_card
from sandbox.ocr.nik import contradictions, structure_problems
from sandbox.ocr.regions import provinces, regencies
from sandbox.ocr.vocab import PEKERJAAN, SEUMUR_HIDUP

CORPUS_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "ktp"
PATHS = {"auto_approve", "manual_review", "auto_reject", "reject_4xx"}
DATE = re.compile(r"\d{2}-\d{2}-\d{4}")


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads((CORPUS_DIR / MANIFEST).read_text(encoding="utf-8"))


def _cards(manifest: dict, document_type: str, *variants: str) -> list[dict]:
    return [c for c in manifest["cards"]
            if c["documentType"] == document_type and c["variant"] in variants and c["fields"]]


def test_manifest_lists_every_file_with_the_agreed_keys(manifest: dict) -> None:
    assert set(manifest["generator"]) == {"seed", "version"}
    for card in manifest["cards"]:
        assert set(card) == {"file", "documentType", "variant", "expectedPath", "expectedHttpStatus", "fields",
                             "notes"}, card["file"]
        assert (CORPUS_DIR / card["file"]).is_file(), f"{card['file']} is in the manifest but not on disk"
        assert card["documentType"] in {"KTP", "NPWP"} and card["variant"] in {"clean", "degraded", "invalid"}
        assert card["expectedPath"] in PATHS, card
        assert (card["expectedHttpStatus"] == 202) == (card["expectedPath"] != "reject_4xx"), card


def test_corpus_has_every_required_kind(manifest: dict) -> None:
    paths = [(c["documentType"], c["variant"], c["expectedPath"]) for c in manifest["cards"]]
    assert paths.count(("KTP", "clean", "auto_approve")) >= 6
    assert paths.count(("KTP", "degraded", "manual_review")) >= 4
    assert sum(1 for c in _cards(manifest, "KTP", "invalid") if c["expectedPath"] == "auto_reject") >= 3
    npwp_lengths = {len(c["fields"]["npwp"]) for c in _cards(manifest, "NPWP", "clean")}
    assert npwp_lengths == {15, 16}
    assert {c["expectedHttpStatus"] for c in manifest["cards"] if c["expectedPath"] == "reject_4xx"} == {415, 422}


def test_ktp_ground_truth_uses_the_card_vocabularies(manifest: dict) -> None:
    vocabularies = {"jenis_kelamin": JENIS_KELAMIN, "gol_darah": GOL_DARAH, "agama": AGAMA,
                    "status_perkawinan": STATUS_PERKAWINAN, "kewarganegaraan": KEWARGANEGARAAN,
                    "pekerjaan": PEKERJAAN, "provinsi": tuple(provinces().values()),
                    "kabupaten_kota": tuple(r.name for r in regencies().values())}
    for card in _cards(manifest, "KTP", "clean", "degraded", "invalid"):
        fields = card["fields"]
        assert tuple(fields) == KTP_FIELDS, card["file"]
        for name, allowed in vocabularies.items():
            assert fields[name] in allowed, f"{card['file']}: {name}={fields[name]!r} not in its vocabulary"
        assert DATE.fullmatch(fields["tanggal_lahir"]), card["file"]
        assert re.fullmatch(r"\d{3}/\d{3}", fields["rt_rw"]), card["file"]
        assert fields["berlaku_hingga"] == SEUMUR_HIDUP or DATE.fullmatch(fields["berlaku_hingga"])
        assert all(v == v.upper() and v.strip() == v and v for v in fields.values()), card["file"]


def test_nik_agrees_with_the_card_except_on_invalid_cards(manifest: dict) -> None:
    for card in _cards(manifest, "KTP", "clean", "degraded"):
        nik = card["fields"]["nik"]
        assert structure_problems(nik) == [], card["file"]
        assert contradictions(nik, card["fields"]) == [], card["file"]
    kinds = {"birth date", "sex", "province"}
    for card in _cards(manifest, "KTP", "invalid"):
        found = contradictions(card["fields"]["nik"], card["fields"])
        assert len(found) == 1, f"{card['file']}: expected one contradiction, got {found}"
        kinds -= {k for k in kinds if k in found[0].message}
    assert not kinds, f"no invalid card whose NIK contradicts the printed {kinds}"


def test_npwp_numbers_are_valid(manifest: dict) -> None:
    for card in _cards(manifest, "NPWP", "clean"):
        assert tuple(card["fields"]) == NPWP_FIELDS
        assert stdnum_npwp.is_valid(card["fields"]["npwp"]), card["file"]


def test_reject_files_are_what_they_claim(manifest: dict) -> None:
    rejected = {c["file"].rsplit("-", 1)[0]: CORPUS_DIR / c["file"] for c in manifest["cards"] if c["expectedPath"] == "reject_4xx"}
    assert sorted(rejected) == ["blank", "pdf-renamed", "truncated"], f"cards refused at upload: {sorted(rejected)}"
    assert rejected["pdf-renamed"].read_bytes().startswith(b"%PDF-")
    with pytest.raises((OSError, UnidentifiedImageError)):
        Image.open(io.BytesIO(rejected["truncated"].read_bytes())).load()
    with Image.open(rejected["blank"]) as blank:
        low, high = blank.convert("L").getextrema()
    assert low == high, f"blank-001 must be one flat colour, has grey levels {low}..{high}"


def test_same_seed_gives_the_same_files() -> None:
    sample = [s for s in CORPUS if s.kind in {"ktp", "npwp-15"}][::5]
    assert [make_card(s, 3) for s in sample] == [make_card(s, 3) for s in sample]


def test_regenerating_the_committed_seed_gives_the_committed_ground_truth(manifest: dict, tmp_path: Path) -> None:
    regenerated = generate(manifest["generator"]["seed"], tmp_path)
    assert regenerated == manifest, "fixtures/ktp is stale: run python -m fixtures.ktp.generate"
