"""The Redis side of a job's life: claim, finish (ack + publish), re-queue, dead-letter.

A job is claimed with BLMOVE queue -> processing (atomic, so a crash never loses it), then its claim
``{"workerId", "claimedAt"}`` is recorded in ``OCR_CLAIMS``. Every later step runs as one Lua script
guarded by that exact claim: a worker whose job was re-queued meanwhile (it was presumed dead) can
no longer publish or re-queue it, so each job is finished exactly once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis

from filot_contract import messages, redis_keys
from filot_contract.messages import OcrResult, utc_now_iso
from sandbox.worker.settings import WorkerSettings

# KEYS: processing, claims, results store, attempts, dead letter
# ARGV: raw job, jobId, claim, result JSON ("" for none), channel, dead-letter entry ("" for none)
_FINISH = """
if redis.call('HGET', KEYS[2], ARGV[2]) ~= ARGV[3] then return 0 end
redis.call('LREM', KEYS[1], 1, ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[4], ARGV[2])
if ARGV[6] ~= '' then redis.call('LPUSH', KEYS[5], ARGV[6]) end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[2], ARGV[4])
  redis.call('PUBLISH', ARGV[5], ARGV[4])
end
return 1
"""

# KEYS: processing, claims, queue    ARGV: raw job, jobId, claim, "head" | "tail"
# The queue's head is its RIGHT end (the API LPUSHes, workers take from the right).
_REQUEUE = """
if redis.call('HGET', KEYS[2], ARGV[2]) ~= ARGV[3] then return 0 end
redis.call('HDEL', KEYS[2], ARGV[2])
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
if ARGV[4] == 'head' then redis.call('RPUSH', KEYS[3], ARGV[1]) else redis.call('LPUSH', KEYS[3], ARGV[1]) end
return 1
"""


def job_id_of(raw: bytes) -> str:
    """The job's ``jobId``, or a stable stand-in for a message that has none (it is dead-lettered)."""
    return messages.job_id_of(raw) or f"unparsable:{hashlib.sha1(raw).hexdigest()[:16]}"


def claim_record(worker_id: str | None, **extra: str) -> bytes:
    """The claim JSON stored in OCR_CLAIMS (``worker_id`` None: adopted by the reaper, owner unknown)."""
    return json.dumps({"workerId": worker_id, "claimedAt": utc_now_iso(), **extra}).encode()


def claim_age_s(record: bytes, now: datetime) -> float:
    """Seconds since the claim was made."""
    claimed_at = datetime.fromisoformat(json.loads(record)["claimedAt"])
    return (now - claimed_at).total_seconds()


@dataclass(frozen=True)
class Claim:
    """A job this worker holds: the raw message and the claim that guards every later step."""

    raw: bytes
    job_id: str
    record: bytes
    attempts: int


class JobQueue:
    """The worker's Redis operations on the queue, processing list, claims, attempts and results."""

    def __init__(self, client: redis.Redis, settings: WorkerSettings) -> None:
        self._redis = client
        self._settings = settings
        self._finish = client.register_script(_FINISH)
        self._requeue = client.register_script(_REQUEUE)

    def claim_next(self, worker_id: str, timeout_s: float) -> Claim | None:
        """Wait up to ``timeout_s`` for a job, move it to processing and record the claim."""
        settings = self._settings
        raw = self._redis.blmove(settings.queue_key, settings.processing_key, timeout_s, "RIGHT", "LEFT")
        if raw is None:
            return None
        job_id = job_id_of(raw)
        record = claim_record(worker_id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(redis_keys.OCR_CLAIMS, job_id, record)
        pipe.hincrby(settings.attempts_key, job_id, 1)
        _, attempts = pipe.execute()
        return Claim(raw=raw, job_id=job_id, record=record, attempts=int(attempts))

    def finish(self, claim: Claim, result: OcrResult | None, dead_letter: dict[str, Any] | None = None) -> bool:
        """Acknowledge the job, store and publish its result, dead-letter it if asked; False: claim lost.

        ``result`` is None only for a message without a document to report on (unparsable).
        """
        settings = self._settings
        keys = [
            settings.processing_key,
            redis_keys.OCR_CLAIMS,
            redis_keys.OCR_RESULTS_STORE,
            settings.attempts_key,
            redis_keys.OCR_DEAD_LETTER,
        ]
        entry = json.dumps(dead_letter) if dead_letter is not None else ""
        payload = result.to_json() if result is not None else ""
        args = [claim.raw, claim.job_id, claim.record, payload, settings.publish_channel, entry]
        return bool(self._finish(keys=keys, args=args))

    def requeue(self, raw: bytes, job_id: str, record: bytes, to_head: bool) -> bool:
        """Put a claimed job back on the queue if ``record`` is still its claim; False otherwise."""
        keys = [self._settings.processing_key, redis_keys.OCR_CLAIMS, self._settings.queue_key]
        return bool(self._requeue(keys=keys, args=[raw, job_id, record, "head" if to_head else "tail"]))

    def processing(self) -> list[bytes]:
        return self._redis.lrange(self._settings.processing_key, 0, -1)

    def claims(self) -> dict[str, bytes]:
        return {job_id.decode(): record for job_id, record in self._redis.hgetall(redis_keys.OCR_CLAIMS).items()}

    def adopt(self, job_id: str, reaper_id: str) -> bool:
        """Give a claim-less job in processing a claim with no owner, so that its age can be measured."""
        return bool(self._redis.hsetnx(redis_keys.OCR_CLAIMS, job_id, claim_record(None, adoptedBy=reaper_id)))
