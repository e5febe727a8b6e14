"""Escalating manual reviews to BULI2: delivered once, never lost.

The ``manual_reviews`` row is the truth (state ``pending`` until BULI2 accepts); the Redis sorted set
``filot:buli2:retry_queue`` is only the schedule of the next attempts (member: JSON
``{"reviewRequestId", "documentId", "attempt"}``, score: epoch second of the next attempt).

* Exactly one delivery after a success: ``deliver`` locks the review row (FOR UPDATE SKIP LOCKED),
  posts only while the row is ``pending`` and records ``escalated`` in the same transaction. A second
  deliverer (another API task, a stale schedule entry) finds the row locked or no longer pending.
* Never lost: a failed attempt is scheduled again with exponential backoff; a schedule entry is taken
  with ZREM (one taker); and at start, then once per backoff cap, every ``pending`` row without a
  schedule entry is scheduled, so a crash between commit and ZADD, or a first attempt that could not
  run, only delays the escalation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from enum import StrEnum

import psycopg
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis
from redis.exceptions import RedisError

from filot_contract.redis_keys import BULI2_RETRY_QUEUE
from sandbox.api.buli2 import Buli2Client, EscalationFailed
from sandbox.api.db import fetch_all, fetch_one
from sandbox.api.logs import event

log = logging.getLogger("filot.api.escalations")
#: Longest pause of the retry loop between looks at the schedule (a new entry wakes it at once).
POLL_INTERVAL_S = 1.0
RECONNECT_DELAY_S = 1.0
#: Entries taken per look at the schedule.
BATCH = 20
#: Backoff doublings counted at most (base * 2^64 is past any cap).
MAX_DOUBLINGS = 64


class Delivery(StrEnum):
    DELIVERED = "delivered"
    NOT_NEEDED = "not_needed"  # no such review, or BULI2 already has it / decided it
    BUSY = "busy"  # another deliverer holds the row; it delivers or reschedules
    FAILED = "failed"


@dataclass(frozen=True)
class Attempt:
    delivery: Delivery
    error: EscalationFailed | None = None


class Escalator:
    def __init__(
        self, pool: AsyncConnectionPool, redis: Redis, client: Buli2Client, base_delay_s: float, max_delay_s: float
    ) -> None:
        self._pool = pool
        self._redis = redis
        self._client = client
        self._base_delay_s = base_delay_s
        self._max_delay_s = max_delay_s
        self._wake = asyncio.Event()
        self._first_attempts: set[asyncio.Task[None]] = set()

    def delay(self, attempt: int, retryable: bool = True) -> float:
        """Seconds before attempt ``attempt + 1``: base * 2^(attempt-1), capped; the cap when pointless."""
        if not retryable:
            return self._max_delay_s
        doublings = min(max(0, attempt - 1), MAX_DOUBLINGS)  # 2.0 ** 1024 overflows: the cap is reached long before
        return min(self._max_delay_s, self._base_delay_s * 2 ** doublings)

    async def escalate(self, review_request_id: str) -> None:
        """First attempt for a new review, in the background (a slow BULI2 must not stall the caller)."""
        task = asyncio.create_task(self._first_attempt(review_request_id), name=f"escalate-{review_request_id}")
        self._first_attempts.add(task)
        task.add_done_callback(self._first_attempts.discard)

    async def _first_attempt(self, review_request_id: str) -> None:
        try:
            await self._attempt(review_request_id, attempt=1)
        except (RedisError, psycopg.Error, OSError) as error:
            # The row stays pending: the retry loop's sweep schedules it once it has been quiet a while.
            event(
                log,
                logging.ERROR,
                "escalation attempt could not run; left pending in the database",
                reviewRequestId=review_request_id,
                error=str(error),
            )

    async def _attempt(self, review_request_id: str, attempt: int) -> None:
        result = await self.deliver(review_request_id)
        if result.delivery is Delivery.FAILED and result.error is not None:
            await self.schedule(review_request_id, attempt, self.delay(attempt, result.error.retryable))

    async def deliver(self, review_request_id: str) -> Attempt:
        """Post the review to BULI2 if it is still pending; record the outcome on the row."""
        async with self._pool.connection() as conn, conn.transaction():
            row = await fetch_one(
                conn,
                "SELECT r.review_request_id, r.document_id, r.state, v.fields, v.score, v.reasons"
                " FROM manual_reviews r JOIN verification_results v ON v.id = r.verification_result_id"
                " WHERE r.review_request_id = %s FOR UPDATE OF r SKIP LOCKED",
                (review_request_id,),
            )
            if row is None:
                exists = await fetch_one(
                    conn, "SELECT 1 FROM manual_reviews WHERE review_request_id = %s", (review_request_id,)
                )
                return Attempt(Delivery.BUSY if exists else Delivery.NOT_NEEDED)
            if row["state"] != "pending":
                return Attempt(Delivery.NOT_NEEDED)
            escalation = {
                "reviewRequestId": str(row["review_request_id"]),
                "documentId": str(row["document_id"]),
                "callbackUrl": self._client.callback_url,
                "fields": row["fields"],
                "score": float(row["score"]),
                "reasons": row["reasons"],
            }
            try:
                review_id = await self._client.submit(escalation)
            except EscalationFailed as error:
                await conn.execute(
                    "UPDATE manual_reviews SET attempts = attempts + 1, last_error = %s, updated_at = now()"
                    " WHERE review_request_id = %s",
                    (str(error)[:1000], review_request_id),
                )
                event(
                    log,
                    logging.WARNING if error.retryable else logging.ERROR,
                    "BULI2 escalation failed",
                    reviewRequestId=review_request_id,
                    documentId=escalation["documentId"],
                    error=str(error),
                )
                return Attempt(Delivery.FAILED, error)
            await conn.execute(
                "UPDATE manual_reviews SET state = 'escalated', buli2_review_id = %s, attempts = attempts + 1,"
                " last_error = NULL, escalated_at = now(), updated_at = now() WHERE review_request_id = %s",
                (review_id, review_request_id),
            )
        event(
            log,
            logging.INFO,
            "escalated to BULI2",
            reviewRequestId=review_request_id,
            documentId=escalation["documentId"],
            reviewId=review_id,
        )
        return Attempt(Delivery.DELIVERED)

    async def schedule(self, review_request_id: str, attempt: int, delay_s: float) -> None:
        member = json.dumps({"reviewRequestId": review_request_id, "attempt": attempt}, sort_keys=True)
        await self._redis.zadd(BULI2_RETRY_QUEUE, {member: time.time() + delay_s})
        event(
            log,
            logging.INFO,
            "escalation scheduled for retry",
            reviewRequestId=review_request_id,
            attempt=attempt + 1,
            inS=round(delay_s, 3),
        )
        self._wake.set()

    async def run(self) -> None:
        """The retry loop: deliver entries as they fall due, and schedule forgotten pending reviews at
        start and then once per backoff cap (a first attempt that could not even run, or a crash between
        commit and ZADD, leaves a pending row that nothing else would schedule)."""
        quiet_for_s = 0.0  # at start every pending review counts; later only those nobody touched for a while
        while True:
            next_sweep = 0.0
            try:
                while True:
                    if time.monotonic() >= next_sweep:
                        await self.schedule_forgotten(quiet_for_s)
                        next_sweep, quiet_for_s = time.monotonic() + self._max_delay_s, self._max_delay_s
                    await self._deliver_due()
                    await self._wait_for_next()
            except (RedisError, OSError, psycopg.Error) as error:
                event(
                    log,
                    logging.WARNING,
                    "BULI2 retry loop lost a dependency; restarting",
                    error=str(error),
                    retryInS=RECONNECT_DELAY_S,
                )
                await asyncio.sleep(RECONNECT_DELAY_S)  # sleep-ok: reconnect pacing after a failure

    async def schedule_forgotten(self, quiet_for_s: float = 0.0) -> int:
        """Schedule now every pending review that has no entry in the retry queue and was not updated for
        ``quiet_for_s`` (a first attempt still running, or a failed one whose ZADD is on its way, is not
        forgotten: scheduling it too would start a second retry chain)."""
        scheduled = {_parse_member(m)[0] for m in await self._redis.zrange(BULI2_RETRY_QUEUE, 0, -1)}
        async with self._pool.connection() as conn:
            rows = await fetch_all(
                conn,
                "SELECT review_request_id FROM manual_reviews WHERE state = 'pending'"
                " AND updated_at <= now() - make_interval(secs => %s)",
                (quiet_for_s,),
            )
        forgotten = [str(r["review_request_id"]) for r in rows if str(r["review_request_id"]) not in scheduled]
        for review_request_id in forgotten:
            await self.schedule(review_request_id, attempt=0, delay_s=0)
        return len(forgotten)

    async def _deliver_due(self) -> None:
        due = await self._redis.zrangebyscore(BULI2_RETRY_QUEUE, "-inf", time.time(), start=0, num=BATCH)
        for member in due:
            if not await self._redis.zrem(BULI2_RETRY_QUEUE, member):
                continue  # another task took this entry; only the taker delivers it
            review_request_id, attempt = _parse_member(member)
            if review_request_id is None:
                event(log, logging.ERROR, "dropped a malformed retry-queue entry", member=member[:500])
                continue
            await self._attempt(review_request_id, attempt=attempt + 1)

    async def _wait_for_next(self) -> None:
        self._wake.clear()
        head = await self._redis.zrange(BULI2_RETRY_QUEUE, 0, 0, withscores=True)
        wait = POLL_INTERVAL_S if not head else min(POLL_INTERVAL_S, max(0.0, head[0][1] - time.time()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=wait)  # sleep-ok: waits for the next due entry

    async def aclose(self) -> None:
        for task in list(self._first_attempts):
            task.cancel()
        await asyncio.gather(*self._first_attempts, return_exceptions=True)


def _parse_member(member: str) -> tuple[str | None, int]:
    """(reviewRequestId, attempts so far) of a retry-queue entry; (None, 0) when it is malformed."""
    try:
        entry = json.loads(member)
        return str(entry["reviewRequestId"]), int(entry.get("attempt", 0))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None, 0
