"""The document score (0..100) the API decides on, and the reasons for it. Pure: no I/O.

``filot_contract.documents.decide`` turns the score into auto-approve (>= 85), auto-reject (<= 35) or
manual review. The rule, in the order it is applied:

1. Nothing read (no fields): 0.
2. Start at 100; subtract for each required field missing (8), each value outside its vocabulary or
   format (6), a malformed NIK or NPWP (40).
3. NIK versus the printed birth date, sex, province and regency: a contradiction read with confidence
   (both fields >= 0.8 and overall >= 0.7) means a forged or altered card: the score is capped at 20.
   A contradiction read with low confidence may be a misread digit: 25 off instead.
4. Overall confidence (OCR confidence times image quality) below 0.7: nobody can tell a misread from an
   altered card, so a person decides: the score is held between 40 and 40 + 50 x confidence (at most
   75), unless more than a quarter of the fields are missing.
"""

from __future__ import annotations

import re

from stdnum.id import npwp as stdnum_npwp

from filot_contract.documents import (AGAMA, GOL_DARAH, JENIS_KELAMIN, KEWARGANEGARAAN, KTP_FIELDS, NPWP_FIELDS,
                                      STATUS_PERKAWINAN)
from sandbox.ocr import nik as nik_rules
from sandbox.ocr.regions import provinces, regencies
from sandbox.ocr.vocab import SEUMUR_HIDUP

MISSING_FIELD_PENALTY = 8
BAD_VALUE_PENALTY = 6
MALFORMED_NUMBER_PENALTY = 40
UNCERTAIN_CONTRADICTION_PENALTY = 25
FORGERY_CAP = 20.0
CONFIDENT = 0.7
CONFIDENT_FIELD = 0.8
LOW_CONFIDENCE_FLOOR = 40.0

_DATE = re.compile(r"\d{2}-\d{2}-\d{4}")
_FORMATS = {
    "tanggal_lahir": lambda v: bool(_DATE.fullmatch(v)),
    "rt_rw": lambda v: bool(re.fullmatch(r"\d{3}/\d{3}", v)),
    "berlaku_hingga": lambda v: v == SEUMUR_HIDUP or bool(_DATE.fullmatch(v)),
    "jenis_kelamin": lambda v: v in JENIS_KELAMIN,
    "gol_darah": lambda v: v in GOL_DARAH,
    "agama": lambda v: v in AGAMA,
    "status_perkawinan": lambda v: v in STATUS_PERKAWINAN,
    "kewarganegaraan": lambda v: v in KEWARGANEGARAAN,
    "provinsi": lambda v: v in provinces().values(),
    "kabupaten_kota": lambda v: any(r.name == v for r in regencies().values()),
}


def score_document(document_type: str, fields: dict[str, str], field_confidence: dict[str, float],
                   confidence: float) -> tuple[float, list[str]]:
    """Score 0..100 of one recognised document, with the human-readable reasons that lowered it."""
    if not fields:
        return 0.0, ["no document fields could be read from the image"]
    if document_type == "KTP":
        score, reasons, missing = _ktp(fields, field_confidence, confidence)
        required = KTP_FIELDS
    elif document_type == "NPWP":
        score, reasons, missing = _npwp(fields)
        required = NPWP_FIELDS
    else:
        raise ValueError(f"unknown document type {document_type!r}; expected KTP or NPWP")
    if confidence < CONFIDENT and missing <= len(required) // 4:
        ceiling = LOW_CONFIDENCE_FLOOR + 50 * confidence
        score = min(max(score, LOW_CONFIDENCE_FLOOR), ceiling)
        reasons.append(f"overall confidence {confidence:.2f} below {CONFIDENT}: needs a person to check")
    return round(max(0.0, min(score, 100.0)), 1), reasons


def _missing(fields: dict[str, str], required: tuple[str, ...], reasons: list[str]) -> int:
    missing = [name for name in required if not fields.get(name)]
    if missing:
        reasons.append(f"missing {', '.join(missing)}")
    return len(missing)


def _ktp(fields: dict[str, str], field_confidence: dict[str, float],
         confidence: float) -> tuple[float, list[str], int]:
    reasons: list[str] = []
    missing = _missing(fields, KTP_FIELDS, reasons)
    score = 100.0 - MISSING_FIELD_PENALTY * missing
    for name, valid in _FORMATS.items():
        if fields.get(name) and not valid(fields[name]):
            score -= BAD_VALUE_PENALTY
            reasons.append(f"{name} {fields[name]!r} is not a value a KTP prints")
    nik = fields.get("nik")
    if not nik:
        return score, reasons, missing
    problems = nik_rules.structure_problems(nik)
    if problems:
        reasons.extend(problems)
        return score - MALFORMED_NUMBER_PENALTY, reasons, missing
    for contradiction in nik_rules.contradictions(nik, fields):
        sure = min(field_confidence.get("nik", 0.0), field_confidence.get(contradiction.field, 0.0))
        if confidence >= CONFIDENT and sure >= CONFIDENT_FIELD:
            score = min(score, FORGERY_CAP)
            reasons.append(f"{contradiction}: the card is forged or altered")
        else:
            score -= UNCERTAIN_CONTRADICTION_PENALTY
            reasons.append(f"{contradiction} (read with low confidence: may be an OCR error)")
    return score, reasons, missing


def _npwp(fields: dict[str, str]) -> tuple[float, list[str], int]:
    reasons: list[str] = []
    missing = _missing(fields, NPWP_FIELDS, reasons)
    score = 100.0 - 2 * MISSING_FIELD_PENALTY * missing
    number = fields.get("npwp")
    if number and not stdnum_npwp.is_valid(number):
        score -= MALFORMED_NUMBER_PENALTY
        reasons.append(f"NPWP {number} fails its check digit or format (15 digits, or 16: a NIK or 0 + 15)")
    return score, reasons, missing
