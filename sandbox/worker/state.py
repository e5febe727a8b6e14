"""What the worker is doing right now: read by the heartbeat, the health server and the logs."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from filot_contract.messages import utc_now_iso


@dataclass
class WorkerState:
    """Thread-safe counters and timestamps of one worker process."""

    worker_id: str
    engine: str
    device: str
    queue: str
    concurrency: int
    started_at: str = field(default_factory=utc_now_iso)
    last_poll_at: str | None = None
    jobs_done: int = 0
    in_flight: int = 0
    redis_ok: bool = True
    _last_poll: float | None = None
    _last_tick: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def tick(self) -> None:
        """The loop went round (it polled, or waited for a free slot): it is not stuck."""
        with self._lock:
            self._last_tick = time.monotonic()

    def polled(self) -> None:
        with self._lock:
            self._last_poll = self._last_tick = time.monotonic()
            self.last_poll_at = utc_now_iso()

    def job_started(self) -> None:
        with self._lock:
            self.in_flight += 1

    def job_ended(self, finished: bool) -> None:
        """A job thread ended: it finished the job (acknowledged), or handed it back to the queue."""
        with self._lock:
            self.in_flight -= 1
            self.jobs_done += int(finished)

    def last_poll_age_s(self) -> float | None:
        with self._lock:
            return None if self._last_poll is None else time.monotonic() - self._last_poll

    def last_tick_age_s(self) -> float:
        with self._lock:
            return time.monotonic() - self._last_tick

    def heartbeat(self) -> dict[str, object]:
        """The heartbeat document (``redis_keys.worker_heartbeat``)."""
        with self._lock:
            return {
                "workerId": self.worker_id,
                "engine": self.engine,
                "device": self.device,
                "state": "busy" if self.in_flight else "polling",
                "queue": self.queue,
                "lastPollAt": self.last_poll_at,
                "jobsDone": self.jobs_done,
                "inFlight": self.in_flight,
                "concurrency": self.concurrency,
                "startedAt": self.started_at,
            }
