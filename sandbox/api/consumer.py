"""The results consumer: follows ``filot:ocr:gpu:results`` and the durable store behind it.

Pub/sub is at-most-once, so the store (hash jobId -> result JSON) is the truth: on every (re)connect
the consumer subscribes first and then applies every entry of the store, and it sweeps the store
again every ``RESULTS_SWEEP_INTERVAL_S``. An entry is deleted only after its result is committed.

``processing``: a worker's claim is visible as an HSET on ``filot:ocr:gpu:claims``; with keyspace
notifications on (FiLot's Redis publishes them, DESIGN.md) the consumer follows that key and moves
claimed documents to ``processing`` at the claim time. Without notifications the status still passes
through ``processing``, timestamped from the result (``finishedAt - durationMs``), when it arrives.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

import psycopg
from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from filot_contract.documents import VerificationStatus
from filot_contract.messages import OcrResult, job_id_of
from filot_contract.redis_keys import OCR_CLAIMS, OCR_RESULTS_CHANNEL, OCR_RESULTS_STORE, keyspace_channel
from sandbox.api.db import set_status
from sandbox.api.logs import event
from sandbox.api.scoring import Judge
from sandbox.api.verdicts import Applied, Outcome, apply_result, mark_claimed, parse_uuid
from sandbox.jsonlog import fields

log = logging.getLogger("filot.api.results")
#: Pause before reconnecting after Redis or PostgreSQL failed under the consumer.
RECONNECT_DELAY_S = 1.0
_CLAIM_EVENTS = frozenset({"hset", "hsetnx", "hmset"})
#: Errors of the data, not of the database: retrying cannot help, the document is failed instead.
_PERMANENT_DB_ERRORS = (psycopg.DataError, psycopg.IntegrityError)
#: A scorer that raises one of these on a result cannot score it; the document is failed.
_SCORER_ERRORS = (ValueError, TypeError, KeyError)


class ResultsConsumer:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        redis: Redis,
        judge: Judge,
        on_review: Callable[[str], Awaitable[None]],
        sweep_interval_s: float,
    ) -> None:
        self._pool = pool
        self._redis = redis
        self._judge = judge
        self._on_review = on_review
        self._sweep_interval_s = sweep_interval_s
        db = redis.connection_pool.connection_kwargs.get("db", 0)
        self._claims_channel = keyspace_channel(OCR_CLAIMS, int(db))

    async def run(self) -> None:
        """Consume until cancelled, reconnecting after Redis or PostgreSQL failures."""
        while True:
            try:
                await self._session()
            except (RedisError, OSError, psycopg.Error) as error:
                event(
                    log,
                    logging.WARNING,
                    "results consumer lost a dependency; reconnecting",
                    error=str(error),
                    retryInS=RECONNECT_DELAY_S,
                )
                await asyncio.sleep(RECONNECT_DELAY_S)  # sleep-ok: reconnect pacing after a failure

    async def _session(self) -> None:
        async with self._redis.pubsub() as pubsub:
            await pubsub.subscribe(OCR_RESULTS_CHANNEL, self._claims_channel)
            # Subscribed first: a result published from now on arrives as a message, and every
            # result published before is in the store.
            await self.sync_claims()
            await self.reconcile()
            await self._listen(pubsub)

    async def _listen(self, pubsub: PubSub) -> None:
        last_sweep = time.monotonic()
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=self._sweep_interval_s)
            if message is not None and message["channel"] == OCR_RESULTS_CHANNEL:
                await self.handle(message["data"])
            elif message is not None and message["data"] in _CLAIM_EVENTS:
                await self.sync_claims()
            if time.monotonic() - last_sweep >= self._sweep_interval_s:
                await self.reconcile()
                last_sweep = time.monotonic()

    async def reconcile(self) -> int:
        """Apply every result in the durable store (published while nobody listened); count them."""
        stored = await self._redis.hgetall(OCR_RESULTS_STORE)
        for raw in stored.values():
            await self.handle(raw)
        if stored:
            event(log, logging.INFO, "reconciled stored results", count=len(stored))
        return len(stored)

    async def sync_claims(self) -> None:
        claims = await self._redis.hgetall(OCR_CLAIMS)
        if not claims:
            return
        async with self._pool.connection() as conn, conn.transaction():
            moved = await mark_claimed(conn, {job: _claimed_at(raw) for job, raw in claims.items()})
        if moved:
            event(log, logging.INFO, "documents processing", documentIds=[str(d) for d in moved])

    async def handle(self, raw: str) -> None:
        """Apply one result JSON; a malformed one is logged and dropped from the store."""
        try:
            result = OcrResult.from_json(raw)
        except ValidationError as error:
            event(log, logging.ERROR, "dropping malformed OCR result", error=str(error), result=raw[:2000])
            await self._forget(job_id_of(raw))
            return
        try:
            applied = await self._apply(result)
        except _PERMANENT_DB_ERRORS + _SCORER_ERRORS as error:
            applied = await self._fail(result, error)
        await self._forget(result.jobId)
        self._log(result, applied)
        if applied.review_request_id is not None:
            await self._on_review(str(applied.review_request_id))

    async def _apply(self, result: OcrResult) -> Applied:
        async with self._pool.connection() as conn, conn.transaction():
            return await apply_result(conn, self._judge, result)

    async def _fail(self, result: OcrResult, error: Exception) -> Applied:
        """The result cannot be applied; fail its document rather than leave it in processing."""
        log.error(
            "OCR result cannot be applied; failing the document",
            exc_info=error,
            extra=fields(jobId=result.jobId, documentId=result.documentId),
        )
        document_id = parse_uuid(result.documentId)
        async with self._pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                "SELECT 1 FROM documents WHERE id = %s AND verification_status IN ('queued', 'processing') FOR UPDATE",
                (document_id,),
            )
            if await cursor.fetchone() is None:
                return Applied(Outcome.ALREADY_APPLIED)
            await set_status(
                conn,
                document_id,
                VerificationStatus.FAILED,
                detail=f"result could not be applied: {type(error).__name__}: {error}"[:1000],
            )
        return Applied(Outcome.APPLIED, VerificationStatus.FAILED.value)

    async def _forget(self, job_id: str | None) -> None:
        if job_id:
            await self._redis.hdel(OCR_RESULTS_STORE, job_id)

    @staticmethod
    def _log(result: OcrResult, applied: Applied) -> None:
        level = logging.WARNING if applied.outcome is Outcome.UNKNOWN_DOCUMENT else logging.INFO
        event(
            log,
            level,
            f"OCR result {applied.outcome.value}",
            jobId=result.jobId,
            documentId=result.documentId,
            status=applied.status,
            engine=result.engine,
            device=result.device,
            workerId=result.workerId,
        )


def _claimed_at(raw: str) -> datetime | None:
    try:
        return datetime.fromisoformat(json.loads(raw)["claimedAt"])
    except (ValueError, KeyError, TypeError):
        return None
