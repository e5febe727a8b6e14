"""Expected traffic: many users of the API at once (seed 002 section 8 "Load test with expected traffic").

Each user is its own HTTP client with its own keep-alive connection, as each browser is. The users start
together and stay connected until the last of them is done, so the API holds the expected number of
users at once, not one after the other. What a deployment gets wrong under load (a connection cap, a
pool too small, a lock) then shows as answers that one user alone never gets.

The traffic (``read_only_session``) is what users and the load balancer do between uploads: poll a
document's status and ask ``/health``. It only reads: no upload, no document, no OCR job, so it is safe
after a production deploy. A user polls an id no document has, which a sound API looks up and answers 404.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

import httpx

#: Seconds a user waits for the others: to start together, and to stay connected until the last is done.
MEETING_DEADLINE_S = 60.0


@dataclass(frozen=True)
class Request:
    """One request of a user's session and the answers a sound API gives it."""

    method: str
    url: str
    expected: frozenset[int]
    #: How the request is named in counts and messages (an URL with a random id would name each apart).
    label: str


@dataclass(frozen=True)
class Answer:
    request: Request
    #: None: no HTTP answer (the connection was refused, broke, or timed out); ``text`` says which.
    status: int | None
    seconds: float
    text: str

    @property
    def as_expected(self) -> bool:
        return self.status in self.request.expected

    def describe(self) -> str:
        got = "no HTTP answer" if self.status is None else str(self.status)
        return f"{self.request.label} -> {got}: {self.text[:200]}"


@dataclass(frozen=True)
class Traffic:
    answers: list[Answer]

    def unexpected(self) -> list[Answer]:
        return [answer for answer in self.answers if not answer.as_expected]

    def counts(self) -> dict[str, dict[str, int]]:
        """request label -> answer ("200", "503", "no answer") -> how many."""
        table: dict[str, Counter[str]] = {}
        for answer in self.answers:
            got = "no answer" if answer.status is None else str(answer.status)
            table.setdefault(answer.request.label, Counter())[got] += 1
        return {label: dict(counter) for label, counter in table.items()}

    def latency_ms(self) -> dict[str, float]:
        """p50, p95 and the slowest answer, in milliseconds (nearest rank)."""
        times = sorted(answer.seconds * 1000 for answer in self.answers)
        if not times:
            return {}

        def rank(p: float) -> float:
            return round(times[max(0, math.ceil(p * len(times)) - 1)], 1)

        return {"p50": rank(0.50), "p95": rank(0.95), "max": round(times[-1], 1)}


def read_only_session(requests: int) -> list[Request]:
    """One user's requests: its document's status, and /health every other time."""
    status = Request("GET", f"/verification/status/{uuid.uuid4()}", frozenset({404}),
                     "GET /verification/status/<an id no document has>")
    health = Request("GET", "/health", frozenset({200}), "GET /health")
    return [status if n % 2 == 0 else health for n in range(requests)]


def send(client: httpx.Client, request: Request) -> Answer:
    started = time.perf_counter()
    try:
        response = client.request(request.method, request.url)
    except httpx.TransportError as error:
        return Answer(request, None, time.perf_counter() - started, f"{type(error).__name__}: {error}")
    return Answer(request, response.status_code, time.perf_counter() - started, response.text)


def _meet(barrier: threading.Barrier) -> None:
    """Wait for the other users; past the deadline (a user stuck) go on alone rather than hang."""
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass


def run(users: int, session: Sequence[Request], client: Callable[[], httpx.Client]) -> Traffic:
    """``users`` users at once, each sending ``session`` in order on its own ``client()``. An interrupt
    (Ctrl-C, the run's deadline) or a user that fails stops every user after the request it is sending."""
    start = threading.Barrier(users, timeout=MEETING_DEADLINE_S)
    done = threading.Barrier(users, timeout=MEETING_DEADLINE_S)
    stopped = threading.Event()

    def stop_everyone() -> None:
        stopped.set()
        start.abort()
        done.abort()

    def user(_: int) -> list[Answer]:
        try:
            with client() as own:
                _meet(start)
                answers = [send(own, request) for request in session if not stopped.is_set()]
                _meet(done)  # still connected: the API holds every user until the last is served
            return answers
        except BaseException:
            stop_everyone()
            raise

    with ThreadPoolExecutor(max_workers=users, thread_name_prefix="load-user") as pool:
        try:
            answers = [answer for answers in pool.map(user, range(users)) for answer in answers]
        except BaseException:
            stop_everyone()
            raise
    return Traffic(answers)
