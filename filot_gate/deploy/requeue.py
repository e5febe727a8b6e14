"""Re-queue OCR jobs stuck in ``filot:ocr:gpu:processing`` (seed 000 runbook: "force re-queue stuck jobs").

A claimed job is stuck when the worker that claimed it has no live heartbeat, or (with
``older_than_s``) when it was claimed longer ago than that; a job without a claim is stuck when no
worker is alive at all, or (with ``older_than_s``) when it was enqueued longer ago than that. Each move is one
Lua script: the job leaves the processing list, goes to the consuming end of the queue and loses its
claim, or nothing happens when the worker finished it in the meantime. Entries that are not job
messages are reported and left where they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from filot_contract.redis_keys import (
    OCR_CLAIMS,
    OCR_PROCESSING,
    OCR_QUEUE,
    WORKER_HEARTBEAT_PATTERN,
    worker_heartbeat,
)

#: KEYS: processing, queue, claims. ARGV: raw job, jobId. Returns 1 when moved, 0 when already gone.
_MOVE = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[2])
  return 1
end
return 0
"""


@dataclass(frozen=True)
class StuckJob:
    """One processing entry judged stuck, and why."""

    job_id: str
    document_id: str
    worker_id: str | None
    reason: str
    raw: str


@dataclass
class RequeueReport:
    """What a requeue run saw and did."""

    examined: int = 0
    stuck: list[StuckJob] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def requeue_stuck_jobs(redis: Any, *, dry_run: bool, older_than_s: float | None = None) -> RequeueReport:
    """Find stuck jobs and (unless ``dry_run``) move them back to the queue. ``redis``: a redis-py client."""
    report = RequeueReport()
    move = redis.register_script(_MOVE)
    for raw in redis.lrange(OCR_PROCESSING, 0, -1):
        report.examined += 1
        text = raw.decode() if isinstance(raw, bytes) else raw
        job = _parse_job(text)
        if job is None:
            report.skipped.append(text[:80])
            continue
        stuck = _judge(redis, job, text, older_than_s)
        if stuck is None:
            continue
        report.stuck.append(stuck)
        if not dry_run and move(keys=[OCR_PROCESSING, OCR_QUEUE, OCR_CLAIMS], args=[text, stuck.job_id]) == 1:
            report.moved.append(stuck.job_id)
    return report


def _parse_job(text: str) -> dict[str, Any] | None:
    try:
        job = json.loads(text)
    except json.JSONDecodeError:
        return None
    return job if isinstance(job, dict) and "jobId" in job else None


def _judge(redis: Any, job: dict[str, Any], raw: str, older_than_s: float | None) -> StuckJob | None:
    job_id = str(job["jobId"])
    claim_raw = redis.hget(OCR_CLAIMS, job_id)
    claim = _parse_claim(claim_raw)
    worker_id = claim.get("workerId") if claim else None

    def stuck(reason: str) -> StuckJob:
        return StuckJob(job_id, str(job.get("documentId", "")), worker_id, reason, raw)

    if not claim or not worker_id:
        # A worker records its claim just after moving the job, so an unclaimed job may be mid-claim:
        # stuck only when no worker is alive, or when it was enqueued longer ago than the limit.
        if not any(True for _ in redis.scan_iter(match=WORKER_HEARTBEAT_PATTERN, count=100)):
            return stuck("no claim recorded and no worker alive")
        age = _age_s(job.get("enqueuedAt"))
        if older_than_s is not None and age is not None and age > older_than_s:
            return stuck(f"no claim recorded, enqueued {age:.0f}s ago (limit {older_than_s:.0f}s)")
        return None
    if not redis.exists(worker_heartbeat(worker_id)):
        return stuck(f"worker {worker_id} has no live heartbeat")
    age = _age_s(claim.get("claimedAt"))
    if older_than_s is not None and age is not None and age > older_than_s:
        return stuck(f"claimed {age:.0f}s ago by live worker {worker_id} (limit {older_than_s:.0f}s)")
    return None


def _parse_claim(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        claim = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return claim if isinstance(claim, dict) else None


def _age_s(claimed_at: Any) -> float | None:
    """Seconds since ``claimedAt`` (epoch seconds or ISO-8601), None when unreadable."""
    now = datetime.now(timezone.utc)
    if isinstance(claimed_at, (int, float)):
        return now.timestamp() - float(claimed_at)
    if isinstance(claimed_at, str):
        try:
            return (now - datetime.fromisoformat(claimed_at.replace("Z", "+00:00"))).total_seconds()
        except ValueError:
            return None
    return None
