"""The reaper: jobs stuck in processing whose worker is gone go back to the queue.

A claim is abandoned when its worker's heartbeat key has expired (or it never had an owner) and it
is older than the visibility timeout. A job found in processing with no claim at all (its worker
died between BLMOVE and recording the claim) is adopted with an owner-less claim first, so that it
is re-queued once that claim is older than the timeout. Every worker runs a reaper; an expiring
lock key lets one of them sweep per interval. Re-queueing is guarded by the exact claim, so a worker
that claims or finishes the job meanwhile wins.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone

import redis

from filot_contract import redis_keys
from sandbox.jsonlog import fields
from sandbox.worker.jobqueue import JobQueue, claim_age_s, job_id_of

log = logging.getLogger(__name__)

#: The reaper never sweeps more often than this, whatever the visibility timeout.
MIN_INTERVAL_S = 0.5


def claim_owner(record: bytes) -> str | None:
    """The worker id in a claim; None for an adopted claim (or a malformed one)."""
    try:
        owner = json.loads(record).get("workerId")
    except (ValueError, AttributeError):
        return None
    return owner if isinstance(owner, str) else None


class Reaper:
    """Sweeps the processing list of one queue on behalf of worker ``worker_id``."""

    def __init__(self, client: redis.Redis, queue: JobQueue, worker_id: str, visibility_timeout_s: float) -> None:
        self._redis = client
        self._queue = queue
        self._worker_id = worker_id
        self._timeout_s = visibility_timeout_s
        self.interval_s = max(MIN_INTERVAL_S, min(visibility_timeout_s / 2, redis_keys.HEARTBEAT_TTL_S / 3))

    def run(self, halt: threading.Event) -> None:
        while not halt.wait(self.interval_s):
            try:
                self.reap_if_turn()
            except redis.RedisError as error:
                log.warning("reaper skipped a sweep: Redis unreachable or refusing commands", extra=fields(error=str(error)))

    def reap_if_turn(self) -> list[str]:
        """Sweep unless another worker holds the reaper lock; the re-queued job ids."""
        lock_ms = int(self.interval_s * 1000)
        if not self._redis.set(redis_keys.OCR_REAPER_LOCK, self._worker_id, nx=True, px=lock_ms):
            return []
        return self.sweep(self.abandoned, adopt=True, reason="worker gone and claim older than the visibility timeout")

    def recover_own(self) -> list[str]:
        """At start: claims under this worker id belong to a previous process of the same id (it died)."""
        return self.sweep(
            lambda record: claim_owner(record) == self._worker_id,
            adopt=False,
            reason="claimed by a previous process of this worker id",
        )

    def sweep(self, abandoned: Callable[[bytes], bool], adopt: bool, reason: str) -> list[str]:
        claims = self._queue.claims()
        requeued = []
        for raw in self._queue.processing():
            job_id = job_id_of(raw)
            record = claims.get(job_id)
            if record is None:
                if adopt:
                    self._queue.adopt(job_id, self._worker_id)
            elif abandoned(record) and self._queue.requeue(raw, job_id, record, to_head=True):
                requeued.append(job_id)
                log.warning(
                    "job returned to the queue", extra=fields(jobId=job_id, claim=record.decode(errors="replace"), reason=reason)
                )
        return requeued

    def abandoned(self, record: bytes) -> bool:
        """The claim's worker is gone (no heartbeat, or no owner) and the claim is past the timeout."""
        owner = claim_owner(record)
        if owner is not None and self._redis.exists(redis_keys.worker_heartbeat(owner)):
            return False
        try:
            return claim_age_s(record, datetime.now(timezone.utc)) > self._timeout_s
        except (ValueError, KeyError, TypeError):  # a claim we cannot date has no owner to wait for
            return True
