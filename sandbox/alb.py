"""The sandbox's Application Load Balancer: a TCP proxy on the ALB's listener that sends each
connection to a healthy target of the target group (round robin), and answers 503 when there is
none, as an ALB does.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from typing import Callable

log = logging.getLogger("sandbox.alb")

NO_TARGET = (
    b"HTTP/1.1 503 Service Temporarily Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Content-Length: 62\r\n\r\n"
    b'{"error":"ALB: no healthy target in target group filot-tg"}\r\n'
)


class LoadBalancer:
    """Listens on ``host:port``; ``targets()`` gives the healthy target addresses at each connection."""

    def __init__(self, host: str, port: int, target_port: int, targets: Callable[[], list[str]]) -> None:
        self.host, self.port, self.target_port = host, port, target_port
        self.targets = targets
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
        if not targets:
            writer.write(NO_TARGET)
            await writer.drain()
            writer.close()
            return
        ip = targets[next(self._counter) % len(targets)]
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(ip, self.target_port), 5)
        except (OSError, asyncio.TimeoutError):
            writer.write(NO_TARGET)
            await writer.drain()
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()
