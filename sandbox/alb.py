"""The sandbox's Application Load Balancer: a TCP proxy on the ALB's listener that sends each
connection to a healthy target of the target group (round robin), and answers 503 when there is
none, as an ALB does.

It also counts what an ALB reports to CloudWatch (``AWS/ApplicationELB``): requests, target
responses by status class, the ALB's own 5xx and the targets' response times. A response is
recognised by its status line at the start of a chunk from the target (cheap, and exact for
HTTP/1.1 clients that wait for a response before sending the next request, as ours do).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from filot_contract import aws_names

log = logging.getLogger("sandbox.alb")



def no_target_answer(targets: str) -> bytes:
    """The 503 a load balancer sends when none of its targets (``targets`` names them) is healthy."""
    body = json.dumps({"error": f"load balancer: no healthy target in {targets}"}).encode()
    return (b"HTTP/1.1 503 Service Temporarily Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)


_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) ")
#: Seconds the listener waits for a request it must refuse (no healthy target) to arrive.
REQUEST_DEADLINE_S = 5.0


@dataclass
class Traffic:
    """What the listener saw since the last ``drain``: the ALB's CloudWatch metrics for one period."""

    requests: int = 0
    #: "2XX".."5XX" -> responses the targets sent with that status class
    target_responses: dict[str, int] = field(default_factory=dict)
    elb_5xx: int = 0
    #: seconds from a request's first byte to the first byte of its response
    response_times: list[float] = field(default_factory=list)


class TrafficCounter:
    """Thread-safe counters the proxy adds to and the metrics publisher drains."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._traffic = Traffic()

    def request(self) -> None:
        with self._lock:
            self._traffic.requests += 1

    def response(self, status: int, seconds: float) -> None:
        with self._lock:
            bucket = f"{status // 100}XX"
            self._traffic.target_responses[bucket] = self._traffic.target_responses.get(bucket, 0) + 1
            self._traffic.response_times.append(seconds)

    def elb_error(self) -> None:
        with self._lock:
            self._traffic.requests += 1
            self._traffic.elb_5xx += 1

    def drain(self) -> Traffic:
        with self._lock:
            traffic, self._traffic = self._traffic, Traffic()
        return traffic


class LoadBalancer:
    """Listens on ``host:port``; ``targets()`` gives the healthy target addresses at each connection."""

    def __init__(self, host: str, port: int, target_port: int, targets: Callable[[], list[str]],
                 serving: str = f"target group {aws_names.TARGET_GROUP_NAME}") -> None:
        self.host, self.port, self.target_port = host, port, target_port
        self.targets = targets
        self.no_target = no_target_answer(serving)
        self.traffic = TrafficCounter()
        self._counter = itertools.count()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="alb", daemon=True)
        self._ready = threading.Event()

    def start(self, deadline_s: float = 10) -> None:
        self._thread.start()
        if not self._ready.wait(deadline_s):
            raise RuntimeError(f"ALB listener {self.host}:{self.port} did not start within {deadline_s}s")

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, self.host, self.port))
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        targets = self.targets()
        up = None
        if targets:
            ip = targets[next(self._counter) % len(targets)]
            try:
                up = await asyncio.wait_for(asyncio.open_connection(ip, self.target_port), 5)
            except (OSError, asyncio.TimeoutError):
                up = None
        if up is None:
            await _refuse(reader, writer, self.traffic, self.no_target)
            return
        up_reader, up_writer = up
        exchange = _Exchange(self.traffic)
        await asyncio.gather(_pipe(reader, up_writer, exchange.client_sent),
                             _pipe(up_reader, writer, exchange.target_sent), return_exceptions=True)


class _Exchange:
    """One client connection's requests and responses, for the counters."""

    def __init__(self, traffic: TrafficCounter) -> None:
        self.traffic = traffic
        self.request_started: float | None = None

    def client_sent(self, data: bytes) -> None:
        if self.request_started is None:
            self.request_started = time.monotonic()
            self.traffic.request()

    def target_sent(self, data: bytes) -> None:
        match = _STATUS_LINE.match(data)
        if match and self.request_started is not None:
            self.traffic.response(int(match.group(1)), time.monotonic() - self.request_started)
            self.request_started = None


async def _refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, traffic: TrafficCounter,
                  answer: bytes) -> None:
    """Answer 503 as an ALB does: after the request arrived, and without resetting the connection
    (closing with the request unread would send the client a TCP reset instead of the answer)."""
    try:
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_DEADLINE_S)
        traffic.elb_error()
        writer.write(answer)
        await writer.drain()
        writer.write_eof()
        while await asyncio.wait_for(reader.read(65536), REQUEST_DEADLINE_S):
            pass  # the rest of the request body, until the client closes its side
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError):
        pass  # the client went away or sent no request: nothing to answer
    finally:
        writer.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Callable[[bytes], None]) -> None:
    try:
        while data := await reader.read(65536):
            seen(data)
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()
