"""The database schema as the gate sees it: the migrations the release ships, those the database
recorded, and the tables and constraints in ``information_schema``.

The gate reads the release's migration files (``NNNN_name.sql`` in the contract's
``MIGRATIONS_DIR``) instead of importing FiLot's migration runner: it checks a deployment, it does
not run one. The checksum is the runner's (SHA-256 of the file's text), so a file edited after it
was applied shows as changed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filot_contract.schema import MIGRATIONS_TABLE

_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class ShippedMigration:
    version: str
    label: str
    checksum: str


def shipped_migrations(directory: Path) -> list[ShippedMigration]:
    """The release's migration files in version order; an empty or missing directory is an error."""
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match:
            text = path.read_text(encoding="utf-8")
            found.append(ShippedMigration(match["version"], path.stem, hashlib.sha256(text.encode()).hexdigest()))
    if not found:
        raise FileNotFoundError(f"no migration files NNNN_name.sql in {directory}")
    return found


def applied_migrations(conn: Any) -> dict[str, str] | None:
    """version -> checksum of every migration the database recorded; None when it has no record table."""
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (MIGRATIONS_TABLE,)).fetchone()[0]
    if not exists:
        return None
    return dict(conn.execute(f"SELECT version, checksum FROM {MIGRATIONS_TABLE}").fetchall())


def existing_tables(conn: Any, names: tuple[str, ...]) -> set[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name = ANY(%s)",
        (list(names),),
    ).fetchall()
    return {r[0] for r in rows}


def primary_keys(conn: Any, names: tuple[str, ...]) -> set[str]:
    """The tables among ``names`` that have a primary key."""
    rows = conn.execute(
        "SELECT table_name FROM information_schema.table_constraints"
        " WHERE table_schema = current_schema() AND constraint_type = 'PRIMARY KEY' AND table_name = ANY(%s)",
        (list(names),),
    ).fetchall()
    return {r[0] for r in rows}


def foreign_keys(conn: Any) -> set[tuple[str, str, str, str]]:
    """(table, column, referenced table, referenced column) of every single-column foreign key."""
    rows = conn.execute(
        """
        SELECT kcu.table_name, kcu.column_name, ccu.table_name, ccu.column_name
        FROM information_schema.table_constraints tc
        JOIN information_schema.key_column_usage kcu
          ON kcu.constraint_name = tc.constraint_name AND kcu.constraint_schema = tc.constraint_schema
        JOIN information_schema.constraint_column_usage ccu
          ON ccu.constraint_name = tc.constraint_name AND ccu.constraint_schema = tc.constraint_schema
        WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema()
        """
    ).fetchall()
    return {tuple(r) for r in rows}


def check_clauses(conn: Any, table: str, column: str) -> list[str]:
    """The CHECK clauses that constrain one column (NOT NULL checks left out)."""
    rows = conn.execute(
        """
        SELECT cc.check_clause
        FROM information_schema.check_constraints cc
        JOIN information_schema.constraint_column_usage ccu
          ON ccu.constraint_name = cc.constraint_name AND ccu.constraint_schema = cc.constraint_schema
        WHERE ccu.table_schema = current_schema() AND ccu.table_name = %s AND ccu.column_name = %s
          AND cc.check_clause NOT LIKE '%%IS NOT NULL'
        """,
        (table, column),
    ).fetchall()
    return [r[0] for r in rows]


def quoted_values(clause: str) -> set[str]:
    """The string literals a CHECK clause allows (``'queued'::text`` -> ``queued``)."""
    return set(re.findall(r"'([^']*)'", clause))
