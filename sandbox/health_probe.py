"""HTTP health checks that never hold up the agent's loop: each URL is probed on a small thread
pool, and the loop reads the latest finished answer. A hung task (SIGSTOP, a deadlock) then costs
the loop nothing; its probe simply times out, as the ALB's and ECS's checks do.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Answer:
    """One probe's outcome: the HTTP status, or why there was none."""

    status: int | None = None
    #: "timeout" or "refused" when there was no HTTP answer
    failure: str | None = None

    def matches(self, http_codes: str = "200") -> bool:
        """Whether the status is one of an ALB matcher's codes ("200", "200-299", "200,302")."""
        if self.status is None:
            return False
        for part in http_codes.split(","):
            low, _, high = part.strip().partition("-")
            if int(low) <= self.status <= int(high or low):
                return True
        return False


class HealthProbe:
    """Latest answer per URL; ``latest(url)`` starts the next probe when the previous one finished."""

    def __init__(self, timeout_s: float, workers: int = 8) -> None:
        # one client for every probe (thread-safe); no keep-alive, so each check is a new connection as
        # an ALB's is, and a task replaced on the same address is never asked on its predecessor's socket
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 1.0)),
                                    limits=httpx.Limits(max_keepalive_connections=0))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="health")
        self._pending: dict[str, Future[Answer]] = {}
        self._answers: dict[str, Answer] = {}

    def latest(self, url: str) -> Answer | None:
        """The newest finished answer for ``url`` (None before the first one)."""
        pending = self._pending.get(url)
        if pending is not None and pending.done():
            self._answers[url] = pending.result()
            pending = None
        if pending is None:
            self._pending[url] = self._pool.submit(self._probe, url)
        return self._answers.get(url)

    def forget(self, prefix: str) -> None:
        """Drop the answers of a stopped task's URLs (all start with ``prefix``)."""
        for url in [u for u in {*self._answers, *self._pending} if u.startswith(prefix)]:
            self._answers.pop(url, None)
            self._pending.pop(url, None)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def _probe(self, url: str) -> Answer:
        try:
            return Answer(status=self._client.get(url).status_code)
        except httpx.TimeoutException:
            return Answer(failure="timeout")
        except httpx.HTTPError:
            return Answer(failure="refused")
