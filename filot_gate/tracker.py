"""Follow one OCR job through FiLot by events, not sleeps.

A ``JobTracker`` subscribes to the results channel and to the keyspace notifications of the queue,
the claims hash and the durable result store, and waits until Redis confirms the subscriptions:
only then may the caller upload (or enqueue). It records each stage it sees with a timestamp:

* ``uploaded``  the API answered 202 (or the gate enqueued the job itself);
* ``queued``    the job is on ``filot:ocr:gpu:queue`` (seen by LRANGE, or by the keyspace event of the
                push when a worker took it before the list could be read: the stage says which);
* ``claimed``   a worker recorded its claim (keyspace event on the claims hash, then HGET);
* ``published`` the job's result arrived on ``filot:ocr:gpu:results``;
* ``scored``    the backend stored its verification result (``verification_results`` row);
* ``final``     ``documents.verification_status`` reached a wanted status.

Each wait blocks on the subscription (a message wakes it at once), re-reads the database at most
every half second, prints a progress line every 10 s and has a deadline; on expiry ``StuckJob`` says
which stage the job is stuck in and what the tracker saw: queue, processing list, claim, attempts,
worker heartbeats, keyspace events and, when a reader is given, the worker's last log lines.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, TypeVar

from filot_contract import redis_keys
from filot_contract.messages import OcrResult, utc_now_iso
from filot_gate.document_checks import fetch_one
from filot_gate.polling import PROGRESS_EVERY_S

log = logging.getLogger("filot_gate.tracker")

STAGES = ("uploaded", "queued", "claimed", "published", "scored", "final")
#: Longest time between two looks at the database while waiting for a database stage.
DB_LOOK_EVERY_S = 0.5
#: How long Redis may take to confirm the subscriptions.
SUBSCRIBE_DEADLINE_S = 10.0
PUSH_EVENTS = ("lpush", "rpush")
#: Keyspace events kept for a failure message (a busy production queue sends many).
MAX_EVENTS_KEPT = 50

T = TypeVar("T")


class StuckJob(AssertionError):
    """A job did not reach a stage in time; the message names the stage and what was seen."""


@dataclass(frozen=True)
class Stage:
    name: str
    at: str  # UTC, ISO-8601 with milliseconds
    elapsed_s: float  # since the subscription was confirmed
    how: str


@dataclass
class JobTracker:
    """Stages of one job, seen through pub/sub, keyspace events and FiLot's database."""

    redis_client: Any
    progress: Callable[[str], None] = log.info
    #: Returns the worker's last log lines (or one line saying why they cannot be read); never raises.
    worker_log: Callable[[], list[str]] | None = None
    job_id: str | None = None
    document_id: str | None = None
    stages: dict[str, Stage] = field(default_factory=dict)
    events: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS_KEPT))
    result: OcrResult | None = None

    def __post_init__(self) -> None:
        db = self.redis_client.connection_pool.connection_kwargs.get("db", 0)
        self._channels = {
            redis_keys.keyspace_channel(redis_keys.OCR_QUEUE, db): redis_keys.OCR_QUEUE,
            redis_keys.keyspace_channel(redis_keys.OCR_CLAIMS, db): redis_keys.OCR_CLAIMS,
            redis_keys.keyspace_channel(redis_keys.OCR_RESULTS_STORE, db): redis_keys.OCR_RESULTS_STORE,
        }
        self._pubsub = self.redis_client.pubsub()
        self._pubsub.subscribe(redis_keys.OCR_RESULTS_CHANNEL, *self._channels)
        self._await_subscribed(1 + len(self._channels))
        self._started = time.monotonic()
        self._pushes = 0  # pushes onto the queue seen since the subscription

    def _await_subscribed(self, count: int) -> None:
        deadline = time.monotonic() + SUBSCRIBE_DEADLINE_S
        confirmed = 0
        while confirmed < count and (left := deadline - time.monotonic()) > 0:
            message = self._pubsub.get_message(timeout=left)
            if message is not None and message["type"] == "subscribe":
                confirmed += 1
        if confirmed < count:
            self._pubsub.close()
            raise TimeoutError(f"Redis confirmed {confirmed} of {count} subscriptions (results channel, keyspace"
                               f" channels) within {SUBSCRIBE_DEADLINE_S:.0f}s; the job cannot be followed")

    # --- recording ---------------------------------------------------------------------------------

    def follow(self, job_id: str, document_id: str) -> None:
        """Name the job to follow (known once the API answered or the gate built the job)."""
        self.job_id, self.document_id = job_id, document_id

    def mark(self, stage: str, how: str) -> None:
        """Record ``stage`` once, now; the first sighting counts."""
        if stage not in self.stages:
            self.stages[stage] = Stage(stage, utc_now_iso(), round(time.monotonic() - self._started, 3), how)

    def timeline(self) -> list[dict[str, Any]]:
        """The stages seen, in the order of STAGES (for the report)."""
        return [vars(self.stages[name]) for name in STAGES if name in self.stages]

    def last_stage(self) -> str:
        """The furthest stage reached (in the order of STAGES), or "none"."""
        return next((name for name in reversed(STAGES) if name in self.stages), "none")

    # --- events ------------------------------------------------------------------------------------

    def drain(self, timeout: float = 0.0) -> None:
        """Handle every message that has arrived (waiting up to ``timeout`` for the first)."""
        message = self._pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
        while message is not None:
            self._note(message)
            message = self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0.0)

    def _note(self, message: dict) -> None:
        channel, data = message["channel"], message["data"]
        if channel == redis_keys.OCR_RESULTS_CHANNEL:
            self._note_result(data)
            return
        key = self._channels.get(channel, channel)
        self.events.append(f"{round(time.monotonic() - self._started, 2)}s {data} {key}")
        if key == redis_keys.OCR_QUEUE and data in PUSH_EVENTS:
            self._pushes += 1
        elif key == redis_keys.OCR_CLAIMS and data == "hset" and self.job_id and "claimed" not in self.stages:
            claim = self.redis_client.hget(redis_keys.OCR_CLAIMS, self.job_id)
            if claim:
                self.mark("claimed", f"claim recorded by worker {json.loads(claim).get('workerId')}")

    def _note_result(self, data: str) -> None:
        try:
            result = OcrResult.from_json(data)
        except ValueError:
            self.events.append(f"unparsable message on {redis_keys.OCR_RESULTS_CHANNEL}: {data[:200]}")
            return
        if self.job_id is None or result.jobId != self.job_id:
            return
        self.mark("claimed", f"claim too short to observe; the result names worker {result.workerId}")
        self.mark("published", f"{redis_keys.OCR_RESULTS_CHANNEL}: status {result.status}, device {result.device},"
                               f" worker {result.workerId}")
        self.result = result

    # --- stages ------------------------------------------------------------------------------------

    def check_queued(self) -> Stage | None:
        """Right after the upload: is the job on the queue? LRANGE first, else the push's keyspace event.

        Returns the ``queued`` stage, or None when neither shows it (the caller asserts on that).
        """
        if any(self.job_id in raw for raw in self.redis_client.lrange(redis_keys.OCR_QUEUE, 0, -1)):
            self.mark("queued", f"LRANGE {redis_keys.OCR_QUEUE} 0 -1 contains job {self.job_id}")
        self.drain()
        if self._pushes:
            self.mark("queued", f"keyspace event {'/'.join(PUSH_EVENTS)} on {redis_keys.OCR_QUEUE} during the upload;"
                                " a worker had taken the job before LRANGE could list it")
        return self.stages.get("queued")

    def wait_for_result(self, deadline_s: float) -> OcrResult:
        """Block on the subscription until this job's result is published (or the deadline)."""
        return self._wait(lambda: self.result, deadline_s, f"its result on {redis_keys.OCR_RESULTS_CHANNEL}")

    def wait_for_scored(self, db: Any, deadline_s: float) -> dict[str, Any]:
        """Until the backend stored the OCR result's verification result; returns that row."""

        def scored() -> dict[str, Any] | None:
            row = fetch_one(db, "SELECT id, decision, score, reasons, fields, engine, device, created_at"
                           " FROM verification_results WHERE job_id = %s AND source = 'ocr'", (self.job_id,))
            if row is not None:
                self.mark("scored", f"verification_results row {row['id']}: decision {row['decision']}, score {row['score']}")
                return row
            failed = fetch_one(db, "SELECT h.detail FROM documents d JOIN document_status_history h ON h.document_id = d.id"
                              " WHERE d.id = %s AND d.verification_status = 'failed' ORDER BY h.id DESC LIMIT 1",
                          (self.document_id,))
            if failed is not None:  # nothing will be scored any more: say why at once
                raise StuckJob(f"job {self.job_id} (document {self.document_id}): the backend failed the document"
                               f" instead of scoring its result: {failed['detail']}")
            return None

        return self._wait(scored, deadline_s, "its verification_results row (the backend scoring the result)")

    def wait_for_status(self, db: Any, wanted: Iterable[str], deadline_s: float) -> str:
        """Until ``documents.verification_status`` is one of ``wanted``; returns it."""
        wanted = {getattr(status, "value", status) for status in wanted}
        seen: list[str | None] = [None]

        def final() -> str | None:
            row = fetch_one(db, "SELECT verification_status FROM documents WHERE id = %s", (self.document_id,))
            seen[0] = row["verification_status"] if row else None
            if seen[0] in wanted:
                self.mark("final", f"documents.verification_status = {seen[0]}")
                return seen[0]
            return None

        return self._wait(final, deadline_s, f"documents.verification_status in {sorted(wanted)}",
                          lambda: f"verification_status now {seen[0]!r}")

    def _wait(self, reached: Callable[[], T | None], deadline_s: float, what: str,
              now: Callable[[], str] = lambda: "") -> T:
        deadline = time.monotonic() + deadline_s
        next_progress = time.monotonic() + PROGRESS_EVERY_S
        while (value := reached()) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                seen = "; ".join(filter(None, (now(), self.snapshot())))
                raise StuckJob(f"job {self.job_id} (document {self.document_id}): {what} not seen within {deadline_s:.0f}s;"
                               f" stuck after stage {self.last_stage()}; {seen}")
            self.drain(timeout=min(left, DB_LOOK_EVERY_S))
            if time.monotonic() >= next_progress:
                next_progress = time.monotonic() + PROGRESS_EVERY_S
                self.progress(f"job {self.job_id}: waiting for {what} ({deadline - time.monotonic():.0f}s left);"
                              f" last stage {self.last_stage()}; {self.snapshot(brief=True)}")
        return value

    # --- what FiLot's Redis says now -----------------------------------------------------------------

    def snapshot(self, brief: bool = False) -> str:
        """Queue, processing list, claim, attempts, stored result, heartbeats, events, worker log."""
        r, job = self.redis_client, self.job_id or "?"
        queue, processing = r.lrange(redis_keys.OCR_QUEUE, 0, -1), r.lrange(redis_keys.OCR_PROCESSING, 0, -1)
        parts = [
            f"queue length {len(queue)} (job {'in' if any(job in j for j in queue) else 'not in'} it)",
            f"processing {len(processing)} (job {'in' if any(job in j for j in processing) else 'not in'} it)",
            f"claim {r.hget(redis_keys.OCR_CLAIMS, job) or 'none'}",
            f"attempts {r.hget(redis_keys.OCR_ATTEMPTS, job) or 0}",
            f"result stored {'yes' if r.hexists(redis_keys.OCR_RESULTS_STORE, job) else 'no'}",
            f"workers {_heartbeats(r)}",
        ]
        if not brief:
            parts.append(f"keyspace events seen {list(self.events)[-6:] or 'none'}")
            parts.append(self._worker_log_lines())
        return "; ".join(parts)

    def _worker_log_lines(self) -> str:
        if self.worker_log is None:
            return "worker log: no reader given"
        lines = self.worker_log()
        return "last worker log lines:\n  " + "\n  ".join(line[:300] for line in lines) if lines else "worker log: empty"

    def close(self) -> None:
        self._pubsub.close()


def _heartbeats(r: Any) -> str:
    now = datetime.now(timezone.utc)
    beats = []
    for key in r.scan_iter(redis_keys.WORKER_HEARTBEAT_PATTERN, count=100):
        value = r.get(key)
        if not value:
            continue
        beat = json.loads(value)
        polled = beat.get("lastPollAt")
        age = f"{(now - datetime.fromisoformat(polled.replace('Z', '+00:00'))).total_seconds():.0f}s" if polled else "?"
        beats.append(f"{beat.get('workerId')} {beat.get('state')}, last poll {age} ago")
    return ", ".join(beats) if beats else "none alive (no heartbeat key)"

