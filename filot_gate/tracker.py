"""Follow one OCR job through FiLot by events, not sleeps.

The tracker subscribes to the results channel and to the queue's keyspace notifications *before*
the upload, then records each stage it sees with a timestamp (uploaded, queued, published, final).
On a deadline it says which stage the job is stuck in and what it saw.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from filot_contract import redis_keys
from filot_contract.documents import DECIDED_STATUSES
from filot_contract.messages import OcrResult

PROGRESS_EVERY_S = 10.0


class StuckJob(AssertionError):
    """A job did not reach a stage in time; the message names the stage and what was seen."""


@dataclass
class JobTracker:
    """Stages of one job, seen through pub/sub and keyspace events on FiLot's Redis."""

    redis_client: Any
    progress: Callable[[str], None] = print
    stages: dict[str, float] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    result: OcrResult | None = None

    def __post_init__(self) -> None:
        self._pubsub = self.redis_client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(redis_keys.OCR_RESULTS_CHANNEL, redis_keys.keyspace_channel(redis_keys.OCR_QUEUE))
        self._started = time.monotonic()

    def mark(self, stage: str) -> None:
        self.stages.setdefault(stage, round(time.monotonic() - self._started, 3))

    def wait_for_result(self, job_id: str, deadline_s: float) -> OcrResult:
        """Block on the subscription until this job's result is published (or the deadline)."""
        deadline = time.monotonic() + deadline_s
        last_progress = time.monotonic()
        while (left := deadline - time.monotonic()) > 0:
            message = self._pubsub.get_message(timeout=min(left, 1.0))
            if message is not None:
                self._note(message, job_id)
            if self.result is not None:
                return self.result
            if time.monotonic() - last_progress >= PROGRESS_EVERY_S:
                last_progress = time.monotonic()
                self.progress(f"job {job_id}: waiting for its result; {self.snapshot(job_id)}")
        raise StuckJob(f"job {job_id}: no result on {redis_keys.OCR_RESULTS_CHANNEL} within {deadline_s:.0f}s;"
                       f" stuck after stage {self.last_stage()}; {self.snapshot(job_id)}")

    def _note(self, message: dict, job_id: str) -> None:
        channel, data = message["channel"], message["data"]
        if channel == redis_keys.OCR_RESULTS_CHANNEL:
            result = OcrResult.from_json(data)
            if result.jobId == job_id:
                self.mark("published")
                self.result = result
        else:
            self.events.append(f"{data} {redis_keys.OCR_QUEUE}")
            if data in ("lpush", "rpush"):
                self.mark("queued")
            elif data in ("lmove", "blmove", "rpoplpush", "brpoplpush", "rpop", "brpop"):
                self.mark("claimed")

    def snapshot(self, job_id: str) -> str:
        """What FiLot's Redis says now: queue and processing lengths, whether this job is in either."""
        r = self.redis_client
        queue, processing = r.lrange(redis_keys.OCR_QUEUE, 0, -1), r.lrange(redis_keys.OCR_PROCESSING, 0, -1)
        beats = [json.loads(v) for k in r.scan_iter(redis_keys.WORKER_HEARTBEAT_PATTERN, count=100) if (v := r.get(k))]
        return (f"queue length {len(queue)} (job {'in' if any(job_id in j for j in queue) else 'not in'} it),"
                f" processing {len(processing)} (job {'in' if any(job_id in j for j in processing) else 'not in'} it),"
                f" attempts {r.hget(redis_keys.OCR_ATTEMPTS, job_id) or 0}, workers alive {len(beats)},"
                f" keyspace events seen {self.events[-5:]}")

    def last_stage(self) -> str:
        return max(self.stages, key=self.stages.get) if self.stages else "none"

    def close(self) -> None:
        self._pubsub.close()


def wait_for_status(db: Any, document_id: str, deadline_s: float, statuses: frozenset = DECIDED_STATUSES,
                    progress: Callable[[str], None] = print) -> str:
    """Poll ``documents.verification_status`` (the DB is not an event source) until it is decided."""
    from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

    wanted = {s.value if hasattr(s, "value") else s for s in statuses}

    def read() -> str | None:
        row = db.execute("SELECT verification_status FROM documents WHERE id = %s", (document_id,)).fetchone()
        return row[0] if row else None

    retrying = Retrying(stop=stop_after_delay(deadline_s), wait=wait_fixed(0.5),
                        retry=retry_if_result(lambda s: s not in wanted),
                        retry_error_callback=lambda state: state.outcome.result())
    status = retrying(read)
    if status not in wanted:
        raise StuckJob(f"document {document_id}: verification_status is {status!r} after {deadline_s:.0f}s,"
                       f" expected one of {sorted(wanted)}")
    return status
