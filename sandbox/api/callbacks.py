"""BULI2's signed decision callback (``POST /internal/reviews``): verify, remember once, settle.

Checks run in this order, each with its own status: signature over ``timestamp + "." + raw body``
(401), timestamp within the allowed skew (400), body shape (400), callback id not seen before (409,
SET NX with a TTL). The policy (``CallbackPolicy``) comes from the API's settings; production keeps
every check on. The id is remembered only for a callback that settled its review: if settling
fails (unknown review, database down) the mark is removed, so BULI2's retry is judged afresh.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis.asyncio import Redis

from filot_contract import buli2
from filot_contract.documents import VerificationStatus
from filot_contract.redis_keys import callback_seen
from sandbox.api.db import Connection, fetch_one, set_status
from sandbox.api.errors import ApiError
from sandbox.api.settings import CallbackPolicy

_TEXT = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")


class ReviewCallback(BaseModel):
    model_config = ConfigDict(extra="ignore")

    callbackId: str = _TEXT
    reviewId: str = _TEXT
    documentId: uuid.UUID
    decision: Literal["approved", "rejected"]
    reviewer: str = _TEXT
    decidedAt: datetime


@dataclass(frozen=True)
class Settled:
    document_id: uuid.UUID
    status: str
    already: bool


def verify(secret: str, headers: Mapping[str, str], raw: bytes, now: float | None = None,
           policy: CallbackPolicy = CallbackPolicy()) -> ReviewCallback:
    """The callback, if signed, fresh and well-formed; otherwise ApiError 401/400."""
    signature, timestamp = headers.get(buli2.SIGNATURE_HEADER.lower()), headers.get(buli2.TIMESTAMP_HEADER.lower())
    if not signature or not timestamp:
        raise ApiError(401, f"missing {buli2.SIGNATURE_HEADER} or {buli2.TIMESTAMP_HEADER} header")
    if policy.verify_signatures and not buli2.verify(secret, timestamp, raw, signature):
        raise ApiError(401, f"{buli2.SIGNATURE_HEADER} does not match the body and timestamp")
    try:
        skew = abs((time.time() if now is None else now) - buli2.parse_timestamp(timestamp))
    except ValueError as error:
        raise ApiError(400, f"{buli2.TIMESTAMP_HEADER}: {error}") from None
    if not skew <= policy.max_skew_s:
        raise ApiError(400, f"stale callback: timestamp is {skew:.0f}s from now, at most {policy.max_skew_s}s allowed")
    try:
        callback = ReviewCallback.model_validate_json(raw)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ApiError(400, f"callback body is invalid: {problems}") from None
    header_id = headers.get(buli2.CALLBACK_ID_HEADER.lower())
    if header_id is not None and header_id != callback.callbackId:
        raise ApiError(400, f"{buli2.CALLBACK_ID_HEADER} does not match the body's callbackId")
    return callback


async def remember_once(redis: Redis, callback_id: str, ttl_s: int) -> None:
    """Mark the callback id as seen for ``ttl_s`` seconds, or 409 if it already was (0: remember nothing)."""
    if ttl_s and not await redis.set(callback_seen(callback_id), str(int(time.time())), nx=True, ex=ttl_s):
        raise ApiError(409, f"callback {callback_id} was already accepted (replay refused)")


async def forget(redis: Redis, callback_id: str) -> None:
    await redis.delete(callback_seen(callback_id))


async def settle(conn: Connection, callback: ReviewCallback) -> Settled:
    """Apply BULI2's decision to the review and its document (in the caller's transaction)."""
    review = await fetch_one(
        conn,
        "SELECT r.id, r.state, d.verification_status FROM manual_reviews r JOIN documents d ON d.id = r.document_id"
        " WHERE r.document_id = %s AND (r.buli2_review_id = %s OR (r.buli2_review_id IS NULL AND r.state = 'pending'))"
        " ORDER BY r.id DESC LIMIT 1 FOR UPDATE OF r, d",
        (callback.documentId, callback.reviewId),
    )
    if review is None:
        raise ApiError(404, f"no manual review {callback.reviewId} for document {callback.documentId}")
    if review["state"] in ("approved", "rejected"):
        if review["state"] != callback.decision:
            raise ApiError(409, f"review {callback.reviewId} was already decided as {review['state']}")
        return Settled(callback.documentId, review["verification_status"], already=True)
    if review["verification_status"] != VerificationStatus.MANUAL_REVIEW.value:
        raise ApiError(409, f"document {callback.documentId} is {review['verification_status']}, not in manual review")
    await conn.execute(
        "UPDATE manual_reviews SET state = %s, reviewer = %s, decided_at = %s, callback_id = %s,"
        " buli2_review_id = coalesce(buli2_review_id, %s), updated_at = now() WHERE id = %s",
        (
            callback.decision,
            callback.reviewer,
            callback.decidedAt,
            callback.callbackId,
            callback.reviewId,
            review["id"],
        ),
    )
    status = VerificationStatus(callback.decision)
    await set_status(
        conn, callback.documentId, status, detail=f"BULI2 review {callback.reviewId} by {callback.reviewer}"
    )
    return Settled(callback.documentId, status.value, already=False)
