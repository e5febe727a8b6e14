"""Document statuses, score thresholds and the field names of parsed cards (seeds 000, 002)."""

from __future__ import annotations

from enum import Enum


class VerificationStatus(str, Enum):
    """``documents.verification_status``: queued -> processing -> decided -> settled, or failed."""

    QUEUED = "queued"
    PROCESSING = "processing"
    AUTO_APPROVED = "auto_approved"
    AUTO_REJECTED = "auto_rejected"
    MANUAL_REVIEW = "manual_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    FAILED = "failed"


#: Statuses after which nothing changes without a person (or BULI2) acting.
FINAL_STATUSES = frozenset(
    {
        VerificationStatus.AUTO_APPROVED,
        VerificationStatus.AUTO_REJECTED,
        VerificationStatus.APPROVED,
        VerificationStatus.REJECTED,
        VerificationStatus.FAILED,
    }
)
#: Statuses in which the automatic pipeline has finished (manual review waits for BULI2).
DECIDED_STATUSES = FINAL_STATUSES | {VerificationStatus.MANUAL_REVIEW}

#: Defaults of AI_SCORE_THRESHOLD_AUTO_APPROVE / AI_SCORE_THRESHOLD_AUTO_REJECT (seed 002).
AUTO_APPROVE_THRESHOLD = 85
AUTO_REJECT_THRESHOLD = 35


def decide(score: float, approve_at: float = AUTO_APPROVE_THRESHOLD, reject_at: float = AUTO_REJECT_THRESHOLD) -> VerificationStatus:
    """Score >= approve_at: auto-approved; <= reject_at: auto-rejected; in between: manual review."""
    if score >= approve_at:
        return VerificationStatus.AUTO_APPROVED
    if score <= reject_at:
        return VerificationStatus.AUTO_REJECTED
    return VerificationStatus.MANUAL_REVIEW


#: The parsed fields of a KTP (e-KTP), in the order they are printed; values as printed on the card,
#: upper case, dates DD-MM-YYYY, ``rt_rw`` as "001/002".
KTP_FIELDS = (
    "provinsi",
    "kabupaten_kota",
    "nik",
    "nama",
    "tempat_lahir",
    "tanggal_lahir",
    "jenis_kelamin",
    "gol_darah",
    "alamat",
    "rt_rw",
    "kel_desa",
    "kecamatan",
    "agama",
    "status_perkawinan",
    "pekerjaan",
    "kewarganegaraan",
    "berlaku_hingga",
)
#: The parsed fields of an NPWP card; ``npwp`` holds the digits only (15 or 16).
NPWP_FIELDS = ("npwp", "nama", "alamat")

#: Vocabularies exactly as printed on cards.
JENIS_KELAMIN = ("LAKI-LAKI", "PEREMPUAN")
GOL_DARAH = ("A", "B", "AB", "O", "-")
AGAMA = ("ISLAM", "KRISTEN", "KATOLIK", "HINDU", "BUDDHA", "KONGHUCU", "KEPERCAYAAN TERHADAP TUHAN YME")
STATUS_PERKAWINAN = ("BELUM KAWIN", "KAWIN", "CERAI HIDUP", "CERAI MATI")
KEWARGANEGARAAN = ("WNI", "WNA")
