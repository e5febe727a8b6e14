"""The migration runner against a real PostgreSQL: apply, status, drift, concurrency, the CLI."""

from __future__ import annotations

import re
import subprocess
import sys
import threading

import psycopg
import pytest

from filot_contract.documents import VerificationStatus
from sandbox.migrations import MigrationError, apply, discover, drifted_migrations, pending_migrations
from selftests.services import PostgresServer, free_port, fresh_database, postgres_server  # noqa: F401

TABLES = {"users", "profiles", "documents", "document_status_history", "verification_results", "manual_reviews"}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbox.migrations", *args], capture_output=True, text=True, timeout=60
    )


def test_files_are_versioned_and_ordered() -> None:
    migrations = discover()
    assert migrations and [m.version for m in migrations] == sorted({m.version for m in migrations})
    assert migrations[0].label == "0001_core_schema"


def test_status_lists_pending_then_apply_makes_it_current(fresh_database: str) -> None:  # noqa: F811
    every = [m.label for m in discover()]
    before = cli("status", "--database-url", fresh_database)
    assert before.returncode == 1, before.stdout + before.stderr
    assert [line.removeprefix("pending: ") for line in before.stdout.splitlines()] == every, before.stdout

    applied = cli("apply", "--database-url", fresh_database)
    assert applied.returncode == 0 and f"applied {', '.join(every)}" in applied.stdout, applied.stdout + applied.stderr
    assert apply(fresh_database) == [], "a second apply must find nothing to do"

    after = cli("status", "--database-url", fresh_database)
    assert after.returncode == 0 and "up to date" in after.stdout, after.stdout + after.stderr
    with psycopg.connect(fresh_database) as conn:
        assert pending_migrations(conn) == []
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert TABLES | {"schema_migrations"} <= tables, f"missing tables: {TABLES - tables}"


def test_status_check_constraint_matches_the_contract(fresh_database: str) -> None:  # noqa: F811
    apply(fresh_database)
    with psycopg.connect(fresh_database) as conn:
        checks = conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'documents'::regclass AND contype = 'c'"
        )
        definitions = [r[0] for r in checks]
    (status_check,) = [d for d in definitions if "verification_status" in d]
    assert set(re.findall(r"'(\w+)'::text", status_check)) == {s.value for s in VerificationStatus}, status_check


def test_constraints_refuse_bad_rows(fresh_database: str) -> None:  # noqa: F811
    apply(fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        (user_id,) = conn.execute("INSERT INTO users (external_id) VALUES ('u1') RETURNING id").fetchone()
        row = ("KTP", "b", "k", "image/png", 10, "queued")
        insert = (
            "INSERT INTO documents (id, user_id, document_type, bucket, object_key, content_type, size_bytes,"
            " job_id, trace_id, verification_status) VALUES (gen_random_uuid(), %s, %s, %s, %s, %s, %s,"
            " gen_random_uuid(), 't', %s)"
        )
        conn.execute(insert, (user_id, *row))
        for bad in (
            ("SIM", *row[1:]),
            (*row[:5], "lost"),
            (*row[:4], 0, "queued"),
            (*row[:3], "application/pdf", 10, "queued"),
        ):
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute(insert, (user_id, *bad))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(insert, (user_id, *row))  # same bucket/object_key


def test_drift_is_reported_and_blocks_apply(fresh_database: str) -> None:  # noqa: F811
    apply(fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = '0001'")
        assert drifted_migrations(conn) == ["0001_core_schema"]
    status = cli("status", "--database-url", fresh_database)
    assert status.returncode == 1 and "drifted: 0001_core_schema" in status.stdout, status.stdout
    with pytest.raises(MigrationError, match="changed afterwards: 0001_core_schema"):
        apply(fresh_database)


def test_concurrent_runners_apply_each_file_once(fresh_database: str) -> None:  # noqa: F811
    results: list[list[str]] = []
    runners = [threading.Thread(target=lambda: results.append(apply(fresh_database))) for _ in range(3)]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join(60)
    assert sorted(results, key=len) == [[], [], [m.label for m in discover()]], results


def test_a_runner_that_cannot_get_the_lock_gives_up_at_the_lock_timeout(fresh_database: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    import sandbox.migrations

    monkeypatch.setattr(sandbox.migrations, "LOCK_TIMEOUT", "1s")
    with psycopg.connect(fresh_database, autocommit=True) as holder:  # a stuck task holding the runner's lock
        holder.execute("SELECT pg_advisory_lock(%s)", (sandbox.migrations._LOCK_KEY,))
        with pytest.raises(psycopg.errors.LockNotAvailable, match="lock timeout"):
            apply(fresh_database)


def test_unreachable_database_is_one_line_without_credentials() -> None:
    done = cli("status", "--database-url", f"postgresql://filot:hunter2@127.0.0.1:{free_port()}/filot")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("migrations: cannot reach postgresql://127.0.0.1:"), done.stderr
    assert "hunter2" not in done.stderr and "Traceback" not in done.stderr and done.stderr.count("\n") == 1
