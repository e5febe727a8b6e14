"""``GET /metrics``: Prometheus text from a registry of this app (not the process-global one).

Queue depths and documents by status are read at scrape time; a source that cannot be read keeps
its last value and sets ``filot_metrics_source_up{source=...}`` to 0, so one dead dependency does
not blank the whole scrape. Request latency is observed by ``RequestTimer`` per route template.
"""

from __future__ import annotations

import logging
import time

import psycopg
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from filot_contract import metrics as names
from filot_contract.documents import VerificationStatus
from filot_contract.redis_keys import BULI2_RETRY_QUEUE, OCR_DEAD_LETTER, OCR_PROCESSING, OCR_QUEUE
from sandbox.api.db import fetch_all
from sandbox.api.logs import event

log = logging.getLogger("filot.api.metrics")


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.queue_length = Gauge(names.PROM_QUEUE_LENGTH, "OCR jobs waiting on filot:ocr:gpu:queue", registry=r)
        self.processing = Gauge(
            names.PROM_PROCESSING, "OCR jobs claimed by workers, not yet finished", registry=r
        )
        self.dead_letter = Gauge(names.PROM_DEAD_LETTER, "OCR jobs that failed every retry", registry=r)
        self.retry_depth = Gauge(names.PROM_BULI2_RETRY_DEPTH, "escalations BULI2 has not accepted yet", registry=r)
        self.by_status = Gauge(names.PROM_DOCUMENTS_BY_STATUS, "documents per verification_status", ["status"], registry=r)
        self.source_up = Gauge(
            names.PROM_SOURCE_UP, "1 when the source could be read at this scrape", ["source"], registry=r
        )
        self.request_duration = Histogram(
            names.PROM_REQUEST_DURATION,
            "HTTP request latency",
            ["method", "route", "status"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
            registry=r,
        )

    async def render(self, redis: Redis, pool: AsyncConnectionPool) -> bytes:
        await self._read_redis(redis)
        await self._read_db(pool)
        return generate_latest(self.registry)

    async def _read_redis(self, redis: Redis) -> None:
        try:
            async with redis.pipeline(transaction=False) as pipe:
                queued, processing, dead, retry = await (
                    pipe.llen(OCR_QUEUE).llen(OCR_PROCESSING).llen(OCR_DEAD_LETTER).zcard(BULI2_RETRY_QUEUE).execute()
                )
        except (RedisError, OSError) as error:
            self._source_down("redis", error)
            return
        self.queue_length.set(queued)
        self.processing.set(processing)
        self.dead_letter.set(dead)
        self.retry_depth.set(retry)
        self.source_up.labels("redis").set(1)

    async def _read_db(self, pool: AsyncConnectionPool) -> None:
        try:
            async with pool.connection() as conn:
                rows = await fetch_all(
                    conn, "SELECT verification_status AS status, count(*) AS n FROM documents GROUP BY 1"
                )
        except psycopg.Error as error:
            self._source_down("postgres", error)
            return
        counts = {row["status"]: row["n"] for row in rows}
        for status in VerificationStatus:
            self.by_status.labels(status.value).set(counts.get(status.value, 0))
        self.source_up.labels("postgres").set(1)

    def _source_down(self, source: str, error: Exception) -> None:
        self.source_up.labels(source).set(0)
        event(log, logging.WARNING, "metrics source unreadable", source=source, error=str(error))


class RequestTimer:
    """ASGI middleware: observes each HTTP request's latency under its route template."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app = app
        self.histogram = histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            self.histogram.labels(scope["method"], template, str(status)).observe(time.perf_counter() - started)
