"""The metrics FiLot's alarms watch, read from the real sandbox and published to its CloudWatch,
then the alarms judged on them (:mod:`sandbox.alarms`).

Once per sandbox period (``minute_s`` seconds stand for CloudWatch's one-minute period):
* from Redis: ``LLEN`` of the OCR queue and processing list, ``ZCARD`` of the BULI2 retry queue,
  the number of live worker heartbeat keys;
* from PostgreSQL: p95 of enqueue-to-result time of the OCR results stored in the period
  (document created -> OCR verification result);
* from the ALB listener: requests, target responses by status class, the ALB's own 5xx, response
  times (``AWS/ApplicationELB``, only when there was traffic, as an ALB reports), and their p95 as
  the API's latency.
Each is stamped in the middle of the period it describes; a source that cannot be read this period
publishes nothing (CloudWatch then has missing data, which each alarm treats as its manifest says).

In production FiLot's backend publishes its metrics; here the bridge publishes them as the running
backend builds would: a build with the ``queue-metric-renamed`` defect (``sandbox.api.defects``)
publishes the queue length under ``RENAMED_QUEUE_LENGTH``.
"""

from __future__ import annotations

import logging
import statistics
import time
from datetime import datetime, timezone
from typing import Any, Callable

from filot_contract import metrics, redis_keys
from sandbox.alarms import AlarmEvaluator
from sandbox.api.defects import QUEUE_METRIC_RENAMED
from sandbox.alb import Traffic

log = logging.getLogger("sandbox.metrics")

#: The name a ``queue-metric-renamed`` build of the backend publishes the queue length under.
RENAMED_QUEUE_LENGTH = "OcrQueueLength"
_QUEUE_LENGTH_NAME_OF_BUILD = {QUEUE_METRIC_RENAMED: RENAMED_QUEUE_LENGTH}

_OCR_P95_SQL = (
    "SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM r.created_at - d.created_at) * 1000)"
    " FROM verification_results r JOIN documents d ON d.id = r.document_id"
    " WHERE r.source = 'ocr' AND r.created_at > now() - make_interval(secs => %s)"
)


class SystemSampler:
    """Reads FiLot's own metrics from its Redis and PostgreSQL (with the sandbox's credentials)."""

    def __init__(self, redis_factory: Callable[[], Any], database_url: str) -> None:
        self._redis_factory = redis_factory
        self._redis: Any = None
        self._database_url = database_url
        self._failing: set[str] = set()

    def redis_metrics(self) -> dict[str, float]:
        import redis

        try:
            self._redis = self._redis or self._redis_factory()
            with self._redis.pipeline(transaction=False) as pipe:
                queued, processing, retry = pipe.llen(redis_keys.OCR_QUEUE).llen(redis_keys.OCR_PROCESSING) \
                    .zcard(redis_keys.BULI2_RETRY_QUEUE).execute()
            alive = sum(1 for _ in self._redis.scan_iter(redis_keys.WORKER_HEARTBEAT_PATTERN, count=100))
        except (redis.RedisError, OSError) as exc:
            self._redis = None
            self._failed("redis", exc)
            return {}
        self._recovered("redis")
        return {metrics.QUEUE_LENGTH: queued, metrics.OCR_ACTIVE_JOBS: processing,
                metrics.BULI2_RETRY_QUEUE_DEPTH: retry, metrics.OCR_WORKERS_ALIVE: alive}

    def ocr_p95_ms(self, window_s: float) -> float | None:
        import psycopg

        try:
            with psycopg.connect(self._database_url, connect_timeout=2) as conn:
                row = conn.execute(_OCR_P95_SQL, (window_s,)).fetchone()
        except psycopg.Error as exc:
            self._failed("postgres", exc)
            return None
        self._recovered("postgres")
        return None if row is None or row[0] is None else round(float(row[0]), 1)

    def _failed(self, source: str, exc: Exception) -> None:
        if source not in self._failing:
            log.warning("metrics: %s unreadable (%s: %s); its metrics are missing until it is back",
                        source, type(exc).__name__, str(exc)[:200])
            self._failing.add(source)

    def _recovered(self, source: str) -> None:
        if source in self._failing:
            log.info("metrics: %s readable again", source)
            self._failing.discard(source)


class Monitoring:
    """Each sandbox period: sample, publish, judge the alarms."""

    def __init__(self, cloudwatch: Any, sampler: SystemSampler, drain_traffic: Callable[[], Traffic],
                 alb_dimension: Callable[[], str | None], minute_s: float,
                 backend_builds: Callable[[], set[str | None]]) -> None:
        self.cw = cloudwatch
        self.sampler = sampler
        self.backend_builds = backend_builds
        self.drain_traffic = drain_traffic
        self.alb_dimension = alb_dimension
        self.minute_s = minute_s
        self.next_end = time.time() + minute_s
        self.alarms = AlarmEvaluator(cloudwatch, minute_s, started=self.next_end - minute_s)

    def tick(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        if now < self.next_end:
            return
        end = self.next_end
        while self.next_end <= now:
            self.next_end += self.minute_s
        self.publish(end)
        self.alarms.evaluate(end)

    def publish(self, end: float) -> None:
        # naive UTC, as moto keeps every timestamp (it compares them with its own)
        stamp = datetime.fromtimestamp(end - self.minute_s / 2, timezone.utc).replace(tzinfo=None)
        own = dict(self.sampler.redis_metrics())
        own[metrics.OCR_PROCESSING_P95_MS] = self.sampler.ocr_p95_ms(self.minute_s)
        traffic = self.drain_traffic()
        own[metrics.API_LATENCY_P95_MS] = _p95_ms(traffic.response_times)
        data = [{"MetricName": published, "Value": float(value), "Unit": metrics.UNITS[name], "Timestamp": stamp}
                for name, value in own.items() if value is not None for published in self._names_of(name)]
        if data:
            self.cw.put_metric_data(metrics.NAMESPACE, data)
        dimension = self.alb_dimension()
        alb = _alb_data(traffic, dimension, stamp) if dimension else []
        if alb:
            self.cw.put_metric_data(metrics.ALB_NAMESPACE, alb)

    def _names_of(self, name: str) -> set[str]:
        """The names the running backend builds publish metric ``name`` under (a sound build's while none runs)."""
        if name != metrics.QUEUE_LENGTH:
            return {name}
        return {_QUEUE_LENGTH_NAME_OF_BUILD.get(build, name) for build in self.backend_builds() or {None}}


def _p95_ms(seconds: list[float]) -> float | None:
    if not seconds:
        return None
    if len(seconds) == 1:
        return round(seconds[0] * 1000, 1)
    return round(statistics.quantiles(seconds, n=20, method="inclusive")[-1] * 1000, 1)


def _alb_data(traffic: Traffic, dimension: str, stamp: datetime) -> list[dict[str, Any]]:
    """The ALB's metrics for one period; like an ALB, a count that is zero is not reported."""
    dimensions = [{"Name": metrics.ALB_DIMENSION, "Value": dimension}]
    counts = {metrics.ALB_REQUESTS: traffic.requests, "HTTPCode_ELB_5XX_Count": traffic.elb_5xx}
    counts.update({f"HTTPCode_Target_{bucket}_Count": n for bucket, n in traffic.target_responses.items()})
    data = [{"MetricName": name, "Value": float(n), "Unit": "Count", "Timestamp": stamp, "Dimensions": dimensions}
            for name, n in counts.items() if n]
    times = traffic.response_times
    if times:
        data.append({"MetricName": "TargetResponseTime", "Unit": "Seconds", "Timestamp": stamp, "Dimensions": dimensions,
                     "StatisticValues": {"SampleCount": float(len(times)), "Sum": sum(times),
                                         "Minimum": min(times), "Maximum": max(times)}})
    return data
