"""Preflight: FiLot's database (seed 000 sections 0 and 5, seed 002 section 2): reachable, every
migration of the release applied, the tables and their key constraints present, room for every
connection the services' pools may open while a deploy runs old and new tasks side by side, and backups
that can restore it."""

from __future__ import annotations

import pytest

from filot_contract import aws_names
from filot_contract.schema import (
    FOREIGN_KEYS, MIGRATIONS_DIR, MIGRATIONS_TABLE, POOL_SIZE_ENV, STATUS_COLUMN, STATUS_VALUES, TABLES)
from filot_gate import db_schema
from filot_gate.db_backups import BACKUP_METHODS, wal_archiver
from filot_gate.db_capacity import PeakConnections, connection_limit, peak_connections

pytestmark = pytest.mark.preflight

#: Connections kept free for what is not a service's task: the gate, a migration run, an operator's psql.
DEFAULT_SPARE_CONNECTIONS = 10
#: Finished WAL segments that may wait for the archiver (16 MiB each by default) before backups count as stuck.
DEFAULT_MAX_WAITING_WAL_SEGMENTS = 16


def test_database_answers_with_the_secrets_credentials(target):
    import psycopg

    where = target.redactor.text(target.database_url)
    try:
        with target.db() as conn:
            answer = conn.execute("SELECT 1").fetchone()
    except psycopg.OperationalError as exc:
        pytest.fail(f"database {where}: expected to accept a connection with DATABASE_URL's credentials, got: {exc}")
    assert answer == (1,), f"database {where}: expected SELECT 1 to return 1, got {answer}"


def test_every_migration_of_the_release_is_applied(db, settings, pytestconfig, evidence):
    relative = settings.profile.get("database.migrations_dir", MIGRATIONS_DIR)
    shipped = db_schema.shipped_migrations(pytestconfig.rootpath / relative)
    applied = db_schema.applied_migrations(db)
    evidence.add("migrations", {"shipped": [m.label for m in shipped], "applied versions": sorted(applied or {})})
    assert applied is not None, f"database: expected table {MIGRATIONS_TABLE} (no migration was ever applied), it is absent"
    pending = [m.label for m in shipped if m.version not in applied]
    assert not pending, f"database: expected every migration of {relative}/ applied, pending: {', '.join(pending)}"
    changed = [m.label for m in shipped if applied[m.version] != m.checksum]
    assert not changed, f"database: migrations applied from a different file than the release ships: {', '.join(changed)}"


def test_core_tables_exist_with_primary_keys(db):
    missing = [t for t in TABLES if t not in db_schema.existing_tables(db, TABLES)]
    assert not missing, f"database: expected tables {', '.join(TABLES)}; missing: {', '.join(missing)}"
    without_key = [t for t in TABLES if t not in db_schema.primary_keys(db, TABLES)]
    assert not without_key, f"database: expected a primary key on every core table; none on: {', '.join(without_key)}"


def test_foreign_keys_tie_documents_to_users_results_and_reviews(db):
    present = db_schema.foreign_keys(db)
    missing = [f"{t}.{c} -> {rt}.{rc}" for t, c, rt, rc in FOREIGN_KEYS if (t, c, rt, rc) not in present]
    assert not missing, f"database: expected the contract's {len(FOREIGN_KEYS)} foreign keys; missing: {', '.join(missing)}"


def test_document_status_is_constrained_to_the_contracts_statuses(db):
    table, column = STATUS_COLUMN
    clauses = db_schema.check_clauses(db, table, column)
    assert clauses, f"database: expected a CHECK constraint on {table}.{column}, found none"
    allowed = set().union(*(db_schema.quoted_values(c) for c in clauses))
    assert allowed == STATUS_VALUES, (
        f"database: {table}.{column} CHECK expected to allow exactly {sorted(STATUS_VALUES)};"
        f" missing {sorted(STATUS_VALUES - allowed)}, extra {sorted(allowed - STATUS_VALUES)}"
    )


def test_database_backups_are_configured(db, settings, evidence):
    method = settings.profile.get("database.backups", "wal-archive")
    if BACKUP_METHODS[method]:
        pytest.skip(f"[database] backups = {method!r}: {BACKUP_METHODS[method]}")
    archiver = wal_archiver(db)
    evidence.add("WAL archiving", archiver.evidence())
    assert archiver.enabled, (
        f"database backups: expected WAL archiving (archive_mode on: every change kept for a point-in-time restore),"
        f" got archive_mode {archiver.mode}: nothing written since the last base backup could be restored")
    assert archiver.configured, (
        "database backups: archive_mode is on but neither archive_command nor archive_library is set:"
        " finished WAL segments wait on the server's disk and none reaches backup storage")
    assert not archiver.failing, (
        f"database backups: WAL archiving is failing: {archiver.last_failed()} failed ({archiver.failed_count} failures),"
        f" the last segment archived was {archiver.last_archived()}. Nothing written since can be restored, and WAL"
        " piles up on the server's disk: the server log has archive_command's error")
    allowed = settings.profile.get("database.max_waiting_wal_segments", DEFAULT_MAX_WAITING_WAL_SEGMENTS)
    waiting = archiver.waiting_segments
    assert waiting is None or waiting <= allowed, (
        f"database backups: expected at most {allowed} finished WAL segments waiting to be archived ([database]"
        f" max_waiting_wal_segments), {waiting} are (being written: {archiver.current_wal}; last archived"
        f" {archiver.last_archived()}): archiving hangs or falls behind, and what they hold is in no backup yet")


def test_database_accepts_every_connection_the_services_may_open_at_a_deploy_s_peak(db, target, ecs, deploy_record, settings, evidence):
    if settings.profile.get("database.pooled", False):
        pytest.skip("[database] pooled: the services connect through a transaction-mode pooler, which holds the server"
                    " connections itself; its pool size against max_connections is the pooler's configuration")
    autoscaling = target.client("application-autoscaling")
    try:
        peaks = [peak for key in aws_names.SERVICES if (peak := _peak(ecs, autoscaling, deploy_record, key))]
    except ValueError as exc:  # a DB_POOL_MAX that is not a number
        pytest.fail(f"database connections at a deploy's peak: {exc}")
    peaks = [p for p in peaks if p.connections]
    limit = connection_limit(db)
    spare = settings.profile.get("database.spare_connections", DEFAULT_SPARE_CONNECTIONS)
    needed = sum(p.connections for p in peaks) + spare
    evidence.add("connections at a deploy's peak", {"services": [str(p) for p in peaks], "kept spare": spare,
                                                   "needed": needed, "accepted": f"{limit.connections} ({limit.set_by})"})
    assert needed <= limit.connections, (
        f"database: expected room for {needed} connections ({'; '.join(map(str, peaks))}; {spare} spare),"
        f" it accepts {limit.connections} ({limit.set_by}): raise the limit, or lower {POOL_SIZE_ENV}"
        " or the services' maximumPercent")


def _peak(ecs, autoscaling, deploy_record: dict, key: str) -> PeakConnections | None:
    """What service ``key`` may open once this deploy runs (None when it does not exist: the cluster checks say so)."""
    cluster, name, _, _ = aws_names.SERVICES[key]
    found = ecs.describe_services(cluster=cluster, services=[name])["services"]
    if not found:
        return None
    revision = deploy_record["services"].get(key, {}).get("taskDefinitionArn") or found[0]["taskDefinition"]
    targets = autoscaling.describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=[f"service/{cluster}/{name}"],
        ScalableDimension="ecs:service:DesiredCount")["ScalableTargets"]
    return peak_connections(found[0], ecs.describe_task_definition(taskDefinition=revision)["taskDefinition"],
                            max((t["MaxCapacity"] for t in targets), default=None))
