"""Ship each task's output to its CloudWatch Logs stream, as the ``awslogs`` driver does.

The agent writes a task's stdout/stderr to ``.sandbox/logs/<service>/<task id>.log``; every tick the
shipper reads what was appended since its last offset (complete lines only, at most
``MAX_BYTES_PER_TICK`` per task; a longer line goes in pieces) and puts them into the group and stream
the task definition's ``logConfiguration`` names (``<awslogs-stream-prefix>/<container>/<task id>``). A task that stopped
gets one last flush. As with awslogs: the stream is created when missing, a missing log group
drops the lines (and says so once), and a line's timestamp is the time it was read.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

log = logging.getLogger("sandbox.logship")

#: Bytes read from one task's log per tick: a chatty task cannot starve the control loop.
MAX_BYTES_PER_TICK = 256 * 1024
#: PutLogEvents limits: events per call, bytes per call (each event counts 26 bytes extra), bytes per event.
MAX_EVENTS_PER_PUT = 10_000
MAX_BYTES_PER_PUT = 1_048_576
MAX_EVENT_BYTES = 256 * 1024 - 26


@dataclass(frozen=True)
class LogSource:
    """Where one task's output is, and where it goes."""

    path: Path
    group: str
    stream: str


class LogShipper:
    """Tails task log files into moto's CloudWatch Logs (in-process backend)."""

    def __init__(self, logs_backend: Any) -> None:
        self.logs = logs_backend
        self.offsets: dict[LogSource, int] = {}
        self._warned: set[str] = set()

    def ship(self, live: Iterable[LogSource]) -> None:
        """Ship what the live tasks appended; flush and forget tasks that are gone."""
        live = set(live)
        for source in live | set(self.offsets):
            self._ship_one(source)
        for gone in set(self.offsets) - live:
            del self.offsets[gone]

    def _ship_one(self, source: LogSource) -> None:
        offset = self.offsets.get(source, 0)
        try:
            with open(source.path, "rb") as f:
                f.seek(offset)
                chunk = f.read(MAX_BYTES_PER_TICK)
        except FileNotFoundError:
            return
        end = chunk.rfind(b"\n") + 1
        if end == 0 and len(chunk) == MAX_BYTES_PER_TICK:
            end = len(chunk)  # one line longer than a tick's read: shipped in pieces, as Docker splits long lines
        if end == 0:
            self.offsets[source] = offset
            return
        self._put(source, _events(chunk[:end]))
        self.offsets[source] = offset + end

    def _put(self, source: LogSource, lines: list[str]) -> None:
        """Deliver the lines; a missing log group drops them, as the awslogs driver cannot deliver either."""
        group = self.logs.groups.get(source.group)
        if group is None:
            if source.group not in self._warned:
                log.warning("log group %s does not exist: lines of %s are dropped", source.group, source.stream)
                self._warned.add(source.group)
            return
        self._warned.discard(source.group)
        if source.stream not in group.streams:
            self.logs.create_log_stream(source.group, source.stream)
        now = int(time.time() * 1000)
        for batch in _batches(lines):
            self.logs.put_log_events(source.group, source.stream, [{"timestamp": now, "message": m} for m in batch])


def _events(data: bytes) -> list[str]:
    """The messages of complete lines; a line over PutLogEvents' event size is split, never cut short."""
    return [piece.decode("utf-8", errors="replace")
            for line in data.removesuffix(b"\n").split(b"\n") if line.strip() for piece in _pieces(line)]


def _pieces(line: bytes) -> Iterable[bytes]:
    """``line`` in pieces of at most MAX_EVENT_BYTES, each cut between two UTF-8 characters."""
    start = 0
    while start < len(line):
        end = min(start + MAX_EVENT_BYTES, len(line))
        while start + 1 < end < len(line) and line[end] & 0xC0 == 0x80:  # a continuation byte: back off
            end -= 1
        yield line[start:end]
        start = end


def _batches(lines: list[str]) -> Iterable[list[str]]:
    """Split into PutLogEvents-sized batches."""
    batch: list[str] = []
    size = 0
    for line in lines:
        cost = len(line.encode()) + 26
        if batch and (len(batch) >= MAX_EVENTS_PER_PUT or size + cost > MAX_BYTES_PER_PUT):
            yield batch
            batch, size = [], 0
        batch.append(line)
        size += cost
    if batch:
        yield batch
