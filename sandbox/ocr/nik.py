"""The NIK (Nomor Induk Kependudukan): its structure and what it must agree with on the card.

A NIK is PP KK CC DDMMYY SSSS: province, regency, district, birth date (day + 40 for women) and a
serial. The card also prints the province, regency, birth date and sex, so a NIK that disagrees with
them is either misread or forged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sandbox.ocr.regions import provinces, regencies

_NIK = re.compile(r"\d{16}")
FEMALE_DAY_OFFSET = 40


@dataclass(frozen=True)
class Nik:
    """The parts of a structurally valid NIK."""

    province: str
    regency: str  # four digits: province + regency
    district: str  # six digits
    day: int  # the birth day, without the +40
    month: int
    year2: int
    female: bool
    serial: str


def encode_nik(district_code: str, birth: date, female: bool, serial: int) -> str:
    """Build a NIK from a six-digit district code, birth date, sex and serial (1..9999)."""
    day = birth.day + (FEMALE_DAY_OFFSET if female else 0)
    return f"{district_code}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"


def parse_nik(nik: str) -> Nik | None:
    """The parts of ``nik``, or None when it is not 16 digits with a possible day and month."""
    if not _NIK.fullmatch(nik):
        return None
    raw_day, month = int(nik[6:8]), int(nik[8:10])
    female = raw_day > FEMALE_DAY_OFFSET
    day = raw_day - FEMALE_DAY_OFFSET if female else raw_day
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return None
    return Nik(nik[:2], nik[:4], nik[:6], day, month, int(nik[10:12]), female, nik[12:])


def structure_problems(nik: str) -> list[str]:
    """Why ``nik`` is not a well-formed NIK with known region codes (empty when it is)."""
    parts = parse_nik(nik)
    if parts is None:
        return [f"NIK {nik!r} is not 16 digits with a valid birth day and month"]
    problems = []
    if parts.province not in provinces():
        problems.append(f"NIK province code {parts.province} is not one of the {len(provinces())} provinces")
    elif parts.regency not in regencies():
        problems.append(f"NIK regency code {parts.regency} is not a regency of province {parts.province}")
    return problems


@dataclass(frozen=True)
class Contradiction:
    """A printed field (``KTP_FIELDS`` name) that the NIK disagrees with, and how."""

    field: str
    message: str

    def __str__(self) -> str:
        return self.message


def contradictions(nik: str, printed: dict[str, str]) -> list[Contradiction]:
    """What in ``printed`` (KTP fields) the NIK contradicts: birth date, sex, province, regency.

    Fields that are missing from ``printed`` are not judged here (missing is scored elsewhere).
    """
    parts = parse_nik(nik)
    if parts is None:
        return []
    found = []
    birth = printed.get("tanggal_lahir", "")
    if re.fullmatch(r"\d{2}-\d{2}-\d{4}", birth):
        day, month, year = int(birth[:2]), int(birth[3:5]), int(birth[6:])
        if (day, month, year % 100) != (parts.day, parts.month, parts.year2):
            found.append(Contradiction("tanggal_lahir", f"NIK encodes birth date {parts.day:02d}-{parts.month:02d}-"
                                                        f"..{parts.year2:02d}, card prints {birth}"))
    sex = printed.get("jenis_kelamin")
    if sex in ("LAKI-LAKI", "PEREMPUAN") and (sex == "PEREMPUAN") != parts.female:
        encoded = "PEREMPUAN" if parts.female else "LAKI-LAKI"
        found.append(Contradiction("jenis_kelamin", f"NIK encodes sex {encoded} (day {nik[6:8]}), card prints {sex}"))
    province = printed.get("provinsi")
    expected_province = provinces().get(parts.province)
    if province and expected_province and province != expected_province:
        found.append(Contradiction("provinsi", f"NIK province code {parts.province} is {expected_province}, "
                                               f"card prints {province}"))
    regency = printed.get("kabupaten_kota")
    expected_regency = regencies().get(parts.regency)
    if regency and expected_regency and province == expected_province and regency != expected_regency.name:
        found.append(Contradiction("kabupaten_kota", f"NIK regency code {parts.regency} is {expected_regency.name}, "
                                                     f"card prints {regency}"))
    return found
