"""Backups of FiLot's PostgreSQL (seed 002 section 2, "Configure database backups"), as the server shows them.

How a database is backed up depends on who runs it; the profile says which (``[database] backups``).

* ``wal-archive`` (the default): the server copies every finished write-ahead-log segment to backup
  storage (``archive_mode`` with ``archive_command`` or ``archive_library``), which with a base backup
  restores the database to any point in time. A self-managed PostgreSQL does this, and so does RDS for
  PostgreSQL (its automated backups turn ``archive_mode`` on; not Aurora, which backs up its storage
  itself). Any role can read it on the primary: the settings, ``pg_stat_archiver`` (the last segment
  archived, the last failure) and the segment being written now. A command that hangs records neither a
  success nor a failure, so the finished segments still waiting tell it apart from a quiet server.
* ``neon`` (production, seed 003): Neon keeps the database's history in its own storage and restores
  to any point within the project's history retention; no SQL shows that window, so the check is skipped
  naming the console setting an operator confirms instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

#: How backups are taken, and for a method the server cannot show, where an operator confirms it.
BACKUP_METHODS: Mapping[str, str | None] = {
    "wal-archive": None,
    "neon": "Neon keeps every change in its own storage and restores to any point within the project's history"
            " retention, which no SQL shows: confirm in the Neon console (project Settings, Instant restore) that"
            " the history retention window covers the time you need to notice a bad deploy",
}
#: What ``archive_command`` shows when nothing is configured (empty) or ``archive_mode`` is off, and the
#: commands that report success without copying anything.
_NO_COMMAND = ("", "(disabled)", "true", "/bin/true", "/usr/bin/true", ":", "exit 0")
#: WAL segments per log file id: segment names are <timeline><log id><segment>, 8 hex digits each.
_LOG_ID_BYTES = 0x1_0000_0000


@dataclass(frozen=True)
class WalArchiver:
    """The server's WAL archiving: its settings and ``pg_stat_archiver``'s counters since ``stats_reset``."""

    mode: str
    command: str
    library: str
    archived_count: int
    last_archived_wal: str | None
    last_archived_time: datetime | None
    failed_count: int
    last_failed_wal: str | None
    last_failed_time: datetime | None
    stats_reset: datetime | None
    current_wal: str
    segment_bytes: int

    @property
    def enabled(self) -> bool:
        return self.mode in ("on", "always")

    @property
    def configured(self) -> bool:
        return self.command.strip() not in _NO_COMMAND or bool(self.library)

    @property
    def waiting_segments(self) -> int | None:
        """Finished segments not archived yet (the one being written is not finished); None when nothing
        was archived since ``stats_reset`` or the last archived file is not a segment (a ``.history``)."""
        last = _segment_number(self.last_archived_wal, self.segment_bytes)
        current = _segment_number(self.current_wal, self.segment_bytes)
        return None if last is None or current is None else max(0, current - last - 1)

    @property
    def failing(self) -> bool:
        """The last attempt failed: a failure newer than the last success (or with no success at all)."""
        if self.last_failed_time is None:
            return False
        return self.last_archived_time is None or self.last_failed_time > self.last_archived_time

    def evidence(self) -> dict[str, Any]:
        return {"archive_mode": self.mode, "archive_command": self.command, "archive_library": self.library,
                "archived": self.archived_count, "last archived": self.last_archived(),
                "failed": self.failed_count, "last failed": self.last_failed(),
                "counted since": _when(self.stats_reset), "being written": self.current_wal,
                "finished segments waiting": self.waiting_segments}

    def last_archived(self) -> str:
        return _event(self.last_archived_wal, self.last_archived_time)

    def last_failed(self) -> str:
        return _event(self.last_failed_wal, self.last_failed_time)


def wal_archiver(conn: Any) -> WalArchiver:
    """What ``conn``'s server says about its WAL archiving (no privilege needed)."""
    mode, command, library = conn.execute(
        "SELECT current_setting('archive_mode'), current_setting('archive_command'),"
        " coalesce(current_setting('archive_library', true), '')").fetchone()
    counters = conn.execute(
        "SELECT archived_count, last_archived_wal, last_archived_time, failed_count, last_failed_wal,"
        " last_failed_time, stats_reset FROM pg_stat_archiver").fetchone()
    current, segment_bytes = conn.execute(
        "SELECT pg_walfile_name(pg_current_wal_lsn()),"
        " (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size')").fetchone()
    return WalArchiver(mode, command, library, *counters, current, segment_bytes)


def _segment_number(name: str | None, segment_bytes: int) -> int | None:
    """The position of WAL segment file ``name`` (``.partial`` and ``.backup`` suffixes ignored) in its timeline."""
    stem = (name or "")[:24]
    if len(stem) != 24 or any(c not in "0123456789ABCDEF" for c in stem):
        return None
    return int(stem[8:16], 16) * (_LOG_ID_BYTES // segment_bytes) + int(stem[16:], 16)


def _event(wal: str | None, at: datetime | None) -> str:
    return f"{wal} at {_when(at)}" if wal else "none"


def _when(at: datetime | None) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if at else "never"
