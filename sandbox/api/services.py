"""Everything a running API holds: clients, the pool, and the background loops.

Built without I/O; ``start`` opens the pool (connecting in the background) and starts the results
consumer, the BULI2 retry loop, the look for lost jobs and, where Temporal is used, its client and
worker; ``stop`` ends them within a bounded time. A background loop that died of a bug is reported by ``/health`` (503), so that
the orchestrator replaces the task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Request
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis
from redis.exceptions import RedisError
from temporalio.client import Client as TemporalClient

from sandbox.api.buli2 import Buli2Client
from sandbox.api.consumer import ResultsConsumer
from sandbox.api.db import make_pool
from sandbox.api.escalations import Escalator
from sandbox.api.metrics import ApiMetrics
from sandbox.api.ratelimit import EVALUATE, UPLOADS, RateLimiter
from sandbox.api.redis_client import make_redis
from sandbox.api.scoring import Judge
from sandbox.api.settings import ApiSettings
from sandbox.api.storage import ObjectStore
from sandbox.api.temporal_worker import VerificationActivities, connect, worker
from sandbox.api.uploads import Uploads
from sandbox.jsonlog import fields

log = logging.getLogger("filot.api")
STOP_DEADLINE_S = 10.0


@dataclass
class Services:
    settings: ApiSettings
    judge: Judge
    metrics: ApiMetrics
    pool: AsyncConnectionPool
    redis: Redis
    store: ObjectStore
    buli2: Buli2Client
    uploads: Uploads
    upload_limiter: RateLimiter
    evaluate_limiter: RateLimiter
    escalator: Escalator
    consumer: ResultsConsumer
    #: Temporal's client, where the backend uses it (TEMPORAL_DISABLED=false); set by start
    temporal: TemporalClient | None = None
    started_at: float = field(default_factory=time.monotonic)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: ApiSettings, judge: Judge, metrics: ApiMetrics) -> Services:
        pool, redis = make_pool(settings), make_redis(settings)
        store = ObjectStore(settings, timeout_s=settings.probe_timeout_s)
        buli2 = Buli2Client(settings)
        escalator = Escalator(pool, redis, buli2, settings.buli2_retry_base_s, settings.buli2_retry_max_s)
        return cls(
            settings=settings,
            judge=judge,
            metrics=metrics,
            pool=pool,
            redis=redis,
            store=store,
            buli2=buli2,
            uploads=Uploads(pool, redis, store),
            upload_limiter=RateLimiter(redis, settings.rate_limit_per_minute, UPLOADS),
            evaluate_limiter=RateLimiter(redis, settings.rate_limit_per_minute, EVALUATE),
            escalator=escalator,
            consumer=ResultsConsumer(pool, redis, judge, escalator.escalate, settings.results_sweep_interval_s),
        )

    async def start(self) -> None:
        await self.pool.open(wait=False)
        self._spawn("resultsConsumer", self.consumer.run())
        self._spawn("buli2RetryLoop", self.escalator.run())
        self._spawn("lostJobLoop", self._requeue_lost_jobs())
        if not self.settings.temporal_disabled:
            self.temporal = await connect(self.settings)
            activities = VerificationActivities(self.pool, self.judge, self.escalator)
            self._spawn("temporalWorker", worker(self.temporal, self.settings.temporal_task_queue, activities).run())

    async def _requeue_lost_jobs(self) -> None:
        """Every results sweep interval, push again the jobs of documents queued without them."""
        while True:
            await asyncio.sleep(self.settings.results_sweep_interval_s)  # sleep-ok: the interval between looks
            try:
                await self.uploads.requeue_lost_jobs(self.settings.requeue_after_s)
            except (RedisError, OSError, psycopg.Error) as error:
                log.warning("could not look for lost jobs; looking again next interval", extra=fields(error=str(error)))

    def _spawn(self, name: str, loop: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(loop, name=name)
        task.add_done_callback(_report_death)
        self.tasks[name] = task

    def background_state(self) -> dict[str, str]:
        """name -> "running", or "stopped: <why>" for a loop that ended."""
        state = {}
        for name, task in self.tasks.items():
            if not task.done():
                state[name] = "running"
            elif task.cancelled():
                state[name] = "stopped: cancelled"
            else:
                state[name] = f"stopped: {task.exception()!r}"
        return state

    async def stop(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.wait_for(asyncio.gather(*self.tasks.values(), return_exceptions=True), STOP_DEADLINE_S)
        await self.escalator.aclose()
        await self.buli2.aclose()
        await self.redis.aclose()
        await self.pool.close(timeout=STOP_DEADLINE_S)


def _report_death(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background loop died", exc_info=task.exception(), extra=fields(loop=task.get_name()))


def get_services(request: Request) -> Services:
    """FastAPI dependency: the running app's services."""
    return request.app.state.services


#: A route parameter of this type receives the running app's services.
ServicesDep = Annotated[Services, Depends(get_services)]
