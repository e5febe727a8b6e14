"""Versioned plain-SQL migrations of the FiLot database, and the runner that applies them.

Files ``NNNN_name.sql`` in this directory are applied in version order, each in its own
transaction, and recorded in ``schema_migrations`` (version, name, checksum, applied_at). An applied
file that was edited afterwards is drift: reported, never silently re-applied. Concurrent runners
serialise on a PostgreSQL advisory lock, so two tasks starting at once apply each file once.

    python -m sandbox.migrations apply  --database-url URL
    python -m sandbox.migrations status --database-url URL   # exit 1 listing pending migrations
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from sandbox.api.logs import one_line

MIGRATIONS_DIR = Path(__file__).resolve().parent
_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")
#: Key of the advisory lock held while applying (any constant unique to this runner).
_LOCK_KEY = 0x46494C4F54  # "FILOT"
#: Longest wait for the advisory lock or a table lock: a session holding one (a stuck task, a hand-run
#: transaction) ends the run with "lock timeout" instead of an endless wait.
LOCK_TIMEOUT = "60s"

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(Exception):
    """The migrations cannot be read or applied; the message says which and why."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def label(self) -> str:
        return f"{self.version}_{self.name}"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in version order; a duplicate version is an error."""
    found: dict[str, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: migration files must be named NNNN_lower_snake.sql")
        version = match["version"]
        if version in found:
            raise MigrationError(f"{path.name}: version {version} is also used by {found[version].label}.sql")
        found[version] = Migration(version, match["name"], path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def applied_checksums(conn: psycopg.Connection) -> dict[str, str]:
    """version -> checksum of every recorded migration (empty when none ever ran)."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return {}
    return dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())


def pending_migrations(conn: psycopg.Connection) -> list[str]:
    """Labels (``0001_core_schema``) of the migrations not applied to this database, in order."""
    applied = applied_checksums(conn)
    return [m.label for m in discover() if m.version not in applied]


def drifted_migrations(conn: psycopg.Connection) -> list[str]:
    """Labels of applied migrations whose file changed since (or vanished)."""
    applied = applied_checksums(conn)
    files = {m.version: m for m in discover()}
    drift = [m.label for v, m in files.items() if v in applied and applied[v] != m.checksum]
    drift += [f"{v} (file missing)" for v in applied if v not in files]
    return drift


def _apply_one(conn: psycopg.Connection, migration: Migration) -> None:
    with conn.transaction():
        try:
            conn.execute(migration.sql.encode())
        except psycopg.Error as error:
            raise MigrationError(f"{migration.label}.sql failed: {one_line(error)}") from None
        conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
            (migration.version, migration.name, migration.checksum),
        )


def apply(database_url: str) -> list[str]:
    """Apply every pending migration; return the labels applied now (empty when up to date)."""
    with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (LOCK_TIMEOUT,))
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute(_CREATE_TABLE)
            drift = drifted_migrations(conn)
            if drift:
                raise MigrationError(f"applied migrations were changed afterwards: {', '.join(drift)}")
            applied = applied_checksums(conn)
            done = []
            for migration in discover():
                if migration.version not in applied:
                    _apply_one(conn, migration)
                    done.append(migration.label)
            return done
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
