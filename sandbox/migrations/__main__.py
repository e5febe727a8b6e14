"""``python -m sandbox.migrations apply|status --database-url URL`` (or env DATABASE_URL).

Exit codes: 0 done / up to date; 1 ``status`` found pending or drifted migrations; 2 the database
could not be reached or a migration failed (one line on stderr saying which).
"""

from __future__ import annotations

import argparse
import os
import sys

import psycopg

from sandbox.api.logs import one_line, without_credentials
from sandbox.migrations import MigrationError, apply, drifted_migrations, pending_migrations


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox.migrations", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("apply", "status"))
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="PostgreSQL URL (default: env DATABASE_URL)",
    )
    return parser


def _status(database_url: str) -> int:
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        pending = pending_migrations(conn)
        drift = drifted_migrations(conn)
    for label in drift:
        print(f"drifted: {label} (applied, but the file changed since)")
    for label in pending:
        print(f"pending: {label}")
    if not pending and not drift:
        print("migrations: up to date")
        return 0
    return 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.database_url:
        print("migrations: no database: pass --database-url or set DATABASE_URL", file=sys.stderr)
        return 2
    where = without_credentials(args.database_url)
    try:
        if args.command == "status":
            return _status(args.database_url)
        done = apply(args.database_url)
    except psycopg.OperationalError as error:
        print(f"migrations: cannot reach {where}: {one_line(error)}", file=sys.stderr)
        return 2
    except psycopg.Error as error:
        print(f"migrations: {where}: query failed: {one_line(error)}", file=sys.stderr)
        return 2
    except MigrationError as error:
        print(f"migrations: {where}: {error}", file=sys.stderr)
        return 2
    print(f"migrations: applied {', '.join(done)}" if done else "migrations: up to date, nothing to apply")
    return 0


if __name__ == "__main__":
    sys.exit(main())
