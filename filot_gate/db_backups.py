"""Backups of FiLot's PostgreSQL (seed 002 section 2, "Configure database backups"), as the server shows them.

How a database is backed up depends on who runs it; the profile says which (``[database] backups``).

* ``wal-archive`` (the default): the server copies every finished write-ahead-log segment to backup
  storage (``archive_mode`` with ``archive_command`` or ``archive_library``), which with a base backup
  restores the database to any point in time. A self-managed PostgreSQL does this, and so does RDS
  (its automated backups turn ``archive_mode`` on). Any role can read it: the settings and
  ``pg_stat_archiver``, which says when the last segment was archived and when archiving last failed.
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
#: What ``archive_command`` shows when nothing is configured (empty) or ``archive_mode`` is off.
_NO_COMMAND = ("", "(disabled)")


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

    @property
    def enabled(self) -> bool:
        return self.mode in ("on", "always")

    @property
    def configured(self) -> bool:
        return self.command not in _NO_COMMAND or bool(self.library)

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
                "counted since": _when(self.stats_reset)}

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
    return WalArchiver(mode, command, library, *counters)


def _event(wal: str | None, at: datetime | None) -> str:
    return f"{wal} at {_when(at)}" if wal else "none"


def _when(at: datetime | None) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if at else "never"
