"""A document's status from what the OCR pipeline says: claimed, result applied, re-evaluated.

Every function runs inside the caller's transaction and locks the document row first, so applying
the same result twice (two API tasks, a reconcile racing a pub/sub message) changes nothing the
second time: a document past ``processing`` is never re-applied.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from filot_contract.documents import VerificationStatus
from filot_contract.messages import OcrResult
from sandbox.api.db import Connection, fetch_all, fetch_one, set_status
from sandbox.api.scoring import Judge, Verdict

_OPEN_TO_RESULTS = (VerificationStatus.QUEUED.value, VerificationStatus.PROCESSING.value)
_AUTOMATIC = (VerificationStatus.AUTO_APPROVED.value, VerificationStatus.AUTO_REJECTED.value)


class Outcome(StrEnum):
    APPLIED = "applied"
    ALREADY_APPLIED = "already_applied"
    UNKNOWN_DOCUMENT = "unknown_document"


@dataclass(frozen=True)
class Applied:
    outcome: Outcome
    status: str | None = None
    review_request_id: uuid.UUID | None = None


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None


def _parse_time(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _clean(value: Any) -> Any:
    """Strip NUL characters, which PostgreSQL text and jsonb refuse, from OCR output."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


async def lock_document(conn: Connection, document_id: uuid.UUID) -> DictRow | None:
    return await fetch_one(
        conn,
        "SELECT id, job_id, document_type, verification_status FROM documents WHERE id = %s FOR UPDATE",
        (document_id,),
    )


async def _insert_verification(
    conn: Connection,
    document_id: uuid.UUID,
    job_id: uuid.UUID,
    source: str,
    ocr: dict[str, Any],
    verdict: Verdict | None,
    judge: Judge,
) -> int:
    """One verification_results row; ``verdict`` None records a failed OCR."""
    row = await fetch_one(
        conn,
        "INSERT INTO verification_results (document_id, job_id, source, ocr_status, score, decision, reasons,"
        " fields, field_confidence, confidence, approve_threshold, reject_threshold, engine, device,"
        " worker_id, duration_ms, error)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (
            document_id,
            job_id,
            source,
            "failed" if verdict is None else "succeeded",
            None if verdict is None else verdict.score,
            VerificationStatus.FAILED.value if verdict is None else verdict.decision.value,
            Jsonb(_clean([ocr.get("error") or "OCR failed"] if verdict is None else verdict.reasons)),
            Jsonb(_clean(ocr.get("fields") or {})),
            Jsonb(_clean(ocr.get("field_confidence") or {})),
            ocr.get("confidence"),
            judge.approve_at,
            judge.reject_at,
            _clean(ocr.get("engine")),
            _clean(ocr.get("device")),
            _clean(ocr.get("worker_id")),
            ocr.get("duration_ms"),
            _clean(ocr.get("error")),
        ),
    )
    assert row is not None  # INSERT ... RETURNING always returns the row
    return row["id"]


async def open_review(conn: Connection, document_id: uuid.UUID, verification_id: int) -> uuid.UUID:
    """A pending manual review: BULI2 has not accepted it yet (escalations.py delivers it)."""
    review_request_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO manual_reviews (review_request_id, document_id, verification_result_id) VALUES (%s, %s, %s)",
        (review_request_id, document_id, verification_id),
    )
    return review_request_id


async def _decide(
    conn: Connection, document_id: uuid.UUID, verification_id: int, verdict: Verdict, detail: str
) -> uuid.UUID | None:
    """Set the decided status; open a manual review when the score is in between."""
    await set_status(conn, document_id, verdict.decision, detail=detail)
    if verdict.decision is VerificationStatus.MANUAL_REVIEW:
        return await open_review(conn, document_id, verification_id)
    return None


async def apply_result(conn: Connection, judge: Judge, result: OcrResult) -> Applied:
    """Score a worker's result and move its document on; idempotent per document."""
    document_id, job_id = parse_uuid(result.documentId), parse_uuid(result.jobId)
    doc = await lock_document(conn, document_id) if document_id and job_id else None
    if doc is None or doc["job_id"] != job_id:
        return Applied(Outcome.UNKNOWN_DOCUMENT)
    assert document_id is not None and job_id is not None  # doc is None otherwise
    if doc["verification_status"] not in _OPEN_TO_RESULTS:
        return Applied(Outcome.ALREADY_APPLIED, doc["verification_status"])
    if doc["verification_status"] == VerificationStatus.QUEUED.value:
        finished = _parse_time(result.finishedAt)
        started = finished - timedelta(milliseconds=result.durationMs) if finished else None
        await set_status(
            conn,
            document_id,
            VerificationStatus.PROCESSING,
            at=started,
            detail=f"worker {result.workerId} (from its result; no claim seen)",
        )
    ocr = {
        "fields": result.fields,
        "field_confidence": result.fieldConfidence,
        "confidence": result.confidence,
        "engine": result.engine,
        "device": result.device,
        "worker_id": result.workerId,
        "duration_ms": max(0, result.durationMs),
        "error": result.error,
    }
    if result.status == "failed":
        await _insert_verification(conn, document_id, job_id, "ocr", ocr, None, judge)
        await set_status(conn, document_id, VerificationStatus.FAILED, detail=_clean(result.error or "OCR failed"))
        return Applied(Outcome.APPLIED, VerificationStatus.FAILED.value)
    verdict = judge.judge(doc["document_type"], result.fields, result.fieldConfidence, result.confidence)
    verification_id = await _insert_verification(conn, document_id, job_id, "ocr", ocr, verdict, judge)
    review = await _decide(conn, document_id, verification_id, verdict, f"score {verdict.score:g}")
    return Applied(Outcome.APPLIED, verdict.decision.value, review)


async def mark_claimed(conn: Connection, claims: dict[str, datetime | None]) -> list[uuid.UUID]:
    """Queued documents whose job a worker claimed (jobId -> claimedAt) move to ``processing``."""
    job_ids = [j for j in map(parse_uuid, claims) if j is not None]
    if not job_ids:
        return []
    rows = await fetch_all(
        conn,
        "SELECT id, job_id FROM documents WHERE job_id = ANY(%s) AND verification_status = %s FOR UPDATE SKIP LOCKED",
        (job_ids, VerificationStatus.QUEUED.value),
    )
    for row in rows:
        await set_status(
            conn,
            row["id"],
            VerificationStatus.PROCESSING,
            at=claims.get(str(row["job_id"])),
            detail="claimed by a worker",
        )
    return [row["id"] for row in rows]


@dataclass(frozen=True)
class Reevaluation:
    document_id: uuid.UUID
    verdict: Verdict
    status: str
    status_changed: bool
    review_request_id: uuid.UUID | None

    def summary(self) -> dict[str, Any]:
        """The JSON answer of an evaluation (the route's body, the workflow's result)."""
        return {
            "documentId": str(self.document_id),
            "score": self.verdict.score,
            "decision": self.verdict.decision.value,
            "reasons": self.verdict.reasons,
            "status": self.status,
            "statusChanged": self.status_changed,
            "reviewRequestId": str(self.review_request_id) if self.review_request_id else None,
        }


class NothingToScore(Exception):
    """The document has no successful OCR result (yet); the message says which case."""


async def reevaluate(conn: Connection, judge: Judge, document_id: uuid.UUID, actor: str) -> Reevaluation | None:
    """Score the stored OCR result again (thresholds may have changed). Only an automatic decision
    is replaced; a pending or settled manual review is left to BULI2. None: no such document."""
    doc = await lock_document(conn, document_id)
    if doc is None:
        return None
    stored = await fetch_one(
        conn,
        "SELECT job_id, ocr_status, fields, field_confidence, confidence, engine, device, worker_id,"
        " duration_ms, error FROM verification_results WHERE document_id = %s AND source = 'ocr'"
        " ORDER BY id DESC LIMIT 1",
        (document_id,),
    )
    if stored is None:
        raise NothingToScore(f"document is {doc['verification_status']}: no OCR result to score yet")
    if stored["ocr_status"] == "failed":
        raise NothingToScore(f"OCR failed for this document ({stored['error']}); nothing to score")
    verdict = judge.judge(
        doc["document_type"], stored["fields"], stored["field_confidence"], stored["confidence"] or 0.0
    )
    verification_id = await _insert_verification(
        conn, document_id, stored["job_id"], "evaluate", dict(stored), verdict, judge
    )
    status, review = doc["verification_status"], None
    changed = status in _AUTOMATIC and verdict.decision.value != status
    if changed:
        review = await _decide(
            conn, document_id, verification_id, verdict, f"re-evaluated by {actor}: score {verdict.score:g}"
        )
        status = verdict.decision.value
    return Reevaluation(document_id, verdict, status, changed, review)
