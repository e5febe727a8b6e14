"""Card vocabularies beyond the contract's: occupations and fixed phrases as printed on e-KTPs.

The contract (``filot_contract.documents``) holds the closed vocabularies the scorer checks; the
occupation list here is the common part of Dukcapil's list, used to snap OCR output to a known value.
"""

from __future__ import annotations

SEUMUR_HIDUP = "SEUMUR HIDUP"

PEKERJAAN = (
    "BELUM/TIDAK BEKERJA",
    "MENGURUS RUMAH TANGGA",
    "PELAJAR/MAHASISWA",
    "PENSIUNAN",
    "PEGAWAI NEGERI SIPIL",
    "TENTARA NASIONAL INDONESIA",
    "KEPOLISIAN RI",
    "PERDAGANGAN",
    "PETANI/PEKEBUN",
    "PETERNAK",
    "NELAYAN/PERIKANAN",
    "INDUSTRI",
    "KONSTRUKSI",
    "TRANSPORTASI",
    "KARYAWAN SWASTA",
    "KARYAWAN BUMN",
    "KARYAWAN HONORER",
    "BURUH HARIAN LEPAS",
    "BURUH TANI/PERKEBUNAN",
    "PEMBANTU RUMAH TANGGA",
    "TUKANG BATU",
    "TUKANG KAYU",
    "PENATA RAMBUT",
    "MEKANIK",
    "SENIMAN",
    "WARTAWAN",
    "USTADZ/MUBALIGH",
    "DOSEN",
    "GURU",
    "DOKTER",
    "BIDAN",
    "PERAWAT",
    "APOTEKER",
    "ARSITEK",
    "AKUNTAN",
    "KONSULTAN",
    "PEDAGANG",
    "SOPIR",
    "WIRASWASTA",
)
