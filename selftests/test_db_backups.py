"""What the gate makes of PostgreSQL's WAL archiver: the finished segments still waiting, counted across a
log id boundary, and the commands that report success without copying anything. The archiver itself, failing
and stuck, runs against a real PostgreSQL in test_faults_preflight.py (fault ``wal-archiving-failing``)."""

from __future__ import annotations

import pytest

from filot_gate.db_backups import WalArchiver

MIB = 1024 * 1024


def archiver(last: str | None, current: str, segment_bytes: int = 16 * MIB, command: str = "cp %p /backup/%f") -> WalArchiver:
    return WalArchiver("on", command, "", 1, last, None, 0, None, None, None, current, segment_bytes)


@pytest.mark.parametrize(("last", "current", "segment_bytes", "waiting"), [
    ("000000010000000000000003", "000000010000000000000004", 16 * MIB, 0),
    ("0000000100000000000000FF", "000000010000000100000001", 16 * MIB, 1),
    ("000000010000000000000FFF", "000000010000000100000002", MIB, 2),
    ("000000010000000000000003.00000028.backup", "000000010000000000000009", 16 * MIB, 5),
])
def test_waiting_segments_are_the_finished_ones_after_the_last_archived(last, current, segment_bytes, waiting):
    assert archiver(last, current, segment_bytes).waiting_segments == waiting


@pytest.mark.parametrize("last", [None, "00000002.history"])
def test_waiting_segments_are_unknown_without_an_archived_segment(last):
    assert archiver(last, "000000020000000000000009").waiting_segments is None


@pytest.mark.parametrize("command", ["", "(disabled)", "true", " /bin/true ", ":", "exit 0"])
def test_a_command_that_copies_nothing_is_not_configured(command):
    assert not archiver("000000010000000000000003", "000000010000000000000004", command=command).configured
