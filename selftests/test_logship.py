"""The sandbox's awslogs driver: complete lines reach the task's stream; a line longer than a tick's
read is shipped in pieces instead of stalling the stream (moto's in-process CloudWatch Logs)."""

from __future__ import annotations

from pathlib import Path

from moto.logs.models import LogsBackend

from sandbox.logship import MAX_BYTES_PER_TICK, MAX_EVENT_BYTES, LogShipper, LogSource


def shipped(backend: LogsBackend, source: LogSource) -> list[str]:
    return [e.message for e in backend.groups[source.group].streams[source.stream].events]


def test_a_line_longer_than_one_read_does_not_stall_the_lines_after_it(tmp_path: Path) -> None:
    backend = LogsBackend("ap-southeast-2", "123456789012")
    backend.create_log_group("/ecs/filot-backend", tags={})
    source = LogSource(tmp_path / "task.log", "/ecs/filot-backend", "filot/filot-backend/task-1")
    source.path.write_bytes(b"started\n" + b"x" * (MAX_BYTES_PER_TICK + 10) + b"\nstill serving\nhalf a li")
    shipper = LogShipper(backend)
    for _ in range(4):
        shipper.ship([source])
    messages = shipped(backend, source)
    assert messages[0] == "started" and messages[-1] == "still serving", f"{source.stream}: got {[m[:20] for m in messages]}"
    pieces = sum(len(m) for m in messages[1:-1])
    assert pieces == MAX_BYTES_PER_TICK + 10, f"{source.stream}: the long line's pieces add up to {pieces} characters, expected {MAX_BYTES_PER_TICK + 10}"
    assert "half a li" not in messages, "an unfinished last line waits for its newline"


def test_a_long_line_of_multibyte_characters_is_split_between_characters(tmp_path: Path) -> None:
    backend = LogsBackend("ap-southeast-2", "123456789012")
    backend.create_log_group("/ecs/filot-backend", tags={})
    source = LogSource(tmp_path / "task.log", "/ecs/filot-backend", "filot/filot-backend/task-2")
    line = "x" + "\u00e9" * (MAX_EVENT_BYTES // 2 + 10)  # the event limit falls inside a two-byte character
    source.path.write_text(line + "\n", encoding="utf-8")
    shipper = LogShipper(backend)
    for _ in range(3):
        shipper.ship([source])
    messages = shipped(backend, source)
    assert "".join(messages) == line, (f"{source.stream}: expected the line in {len(messages)} whole pieces;"
                                       f" {sum(m.count(chr(0xFFFD)) for m in messages)} replacement characters")
