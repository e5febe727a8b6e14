"""Faults in FiLot's data stores: Redis settings changed with ``CONFIG SET`` (as a console change or
a provider's default would), a backlog in the BULI2 retry queue, schema drift in PostgreSQL (what a
half-applied or hand-edited migration leaves), and PostgreSQL's WAL archiving pointed at a backup volume
that is not there. Each heal restores exactly what was changed."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from filot_contract import redis_keys
from psycopg import sql

from filot_gate.db_backups import WalArchiver
from sandbox.datastores import REDIS_MAXMEMORY, close_wal_segment, wal_archive_command
from sandbox.faults.context import FaultContext
from sandbox.faults.model import Fault, Saved

HIDDEN_TABLE_SUFFIX = "__hidden_by_fault"
MISSING_TABLE = "manual_reviews"
#: Escalations put into the BULI2 retry queue by ``alarm-firing``: more than the alarm's threshold (10),
#: due in a day, so that FiLot's retry loop leaves them alone while the fault lasts.
BACKLOG = 12
BACKLOG_ALARM = "filot-buli2-retry-queue-depth-high"
#: How full ``redis-nearly-full`` leaves Redis (the gate allows 80% by default), and the value it holds.
NEARLY_FULL_PERCENT = 90
FILLER_KEY = "filot:sandbox:fault:redis-nearly-full"
FILLER_BYTES = 16 * 1024 * 1024
#: Where ``wal-archiving-failing`` has PostgreSQL copy its WAL: a backup volume's mount point with nothing mounted.
UNMOUNTED_BACKUP_VOLUME = "backup-volume-not-mounted"


def _redis_setting(parameter: str, value: str):
    def act(ctx: FaultContext, _: Saved | None = None) -> None:
        ctx.redis().config_set(parameter, value)
    return act


def _fill_redis_to(percent: int):
    """Redis holds a large value (as a queue that grew for days) and maxmemory is lowered until what it
    holds is ``percent`` of it: the rest, megabytes, leaves the sandbox's own writes room while it lasts."""
    def act(ctx: FaultContext) -> None:
        client = ctx.redis()
        ctx.keep({"maxmemory": client.config_get("maxmemory")["maxmemory"]})
        before = _evictable_memory(client)
        client.set(FILLER_KEY, b"x" * FILLER_BYTES)
        # the request's query buffer counts too until Redis frees it, a moment later
        held = ctx.wait(lambda: _evictable_memory(client), lambda used: used < before + FILLER_BYTES * 3 // 2,
                        f"Redis to free the query buffer of the {FILLER_BYTES} byte value",
                        describe=lambda used: f"{used} bytes used", deadline_s=30)
        client.config_set("maxmemory", held * 100 // percent)
    return act


def _evictable_memory(client: Any) -> int:
    """What counts against maxmemory: used_memory less the replication and AOF buffers."""
    memory = client.info("memory")
    return int(memory["used_memory"]) - int(memory.get("mem_not_counted_for_evict", 0))


def _memory_limit_back(ctx: FaultContext, saved: Saved) -> None:
    client = ctx.redis()
    client.config_set("maxmemory", saved.get("maxmemory") or REDIS_MAXMEMORY)
    client.delete(FILLER_KEY)


def _drop_password(ctx: FaultContext) -> None:
    ctx.redis().config_set("requirepass", "")


def _restore_password(ctx: FaultContext, _: Saved) -> None:
    ctx.redis().config_set("requirepass", ctx.creds["REDIS_PASSWORD"])


def _backlog_members() -> list[str]:
    return [json.dumps({"reviewRequestId": f"sandbox-fault-alarm-firing-{n}", "attempt": 0}, sort_keys=True)
            for n in range(BACKLOG)]


def _fill_retry_queue(ctx: FaultContext) -> None:
    due = time.time() + 86_400
    ctx.redis().zadd(redis_keys.BULI2_RETRY_QUEUE, {member: due for member in _backlog_members()})
    ctx.wait_alarm(BACKLOG_ALARM, "ALARM")


def _drain_retry_queue(ctx: FaultContext, _: Saved) -> None:
    ctx.redis().zrem(redis_keys.BULI2_RETRY_QUEUE, *_backlog_members())
    ctx.wait_alarm(BACKLOG_ALARM, "OK")


def _forget_newest_migration(ctx: FaultContext) -> None:
    with ctx.db() as conn:
        row = conn.execute("SELECT version, name, checksum, applied_at FROM schema_migrations"
                           " ORDER BY version DESC LIMIT 1").fetchone()
        ctx.keep({"version": row[0], "name": row[1], "checksum": row[2], "appliedAt": row[3].isoformat()})
        conn.execute("DELETE FROM schema_migrations WHERE version = %s", (row[0],))


def _record_migration(ctx: FaultContext, saved: Saved) -> None:
    if "version" not in saved:  # the injection failed before it deleted anything
        return
    with ctx.db() as conn:
        conn.execute("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (%s, %s, %s, %s)"
                     " ON CONFLICT DO NOTHING",
                     (saved["version"], saved["name"], saved["checksum"], datetime.fromisoformat(saved["appliedAt"])))


def _hide_table(ctx: FaultContext) -> None:
    with ctx.db() as conn:
        conn.execute(f"ALTER TABLE {MISSING_TABLE} RENAME TO {MISSING_TABLE}{HIDDEN_TABLE_SUFFIX}")


def _unhide_table(ctx: FaultContext, _: Saved) -> None:
    with ctx.db() as conn:
        hidden = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (MISSING_TABLE + HIDDEN_TABLE_SUFFIX,)).fetchone()[0]
        if hidden:
            conn.execute(f"ALTER TABLE {MISSING_TABLE}{HIDDEN_TABLE_SUFFIX} RENAME TO {MISSING_TABLE}")


def _drop_constraint(table: str, kind: str, mentions: str):
    """Drop the constraint of ``table`` of ``kind`` ('f' foreign key, 'c' check) whose definition
    mentions ``mentions``; keep its name and definition for the heal."""
    def act(ctx: FaultContext) -> None:
        with ctx.db() as conn:
            found = [(name, definition) for name, definition in conn.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid = %s::regclass AND contype = %s", (table, kind)).fetchall() if mentions in definition]
            ctx.keep({"table": table, "constraints": [{"name": n, "definition": d} for n, d in found]})
            for name, _ in found:
                conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    return act


def _add_constraints(ctx: FaultContext, saved: Saved) -> None:
    with ctx.db() as conn:
        for constraint in saved.get("constraints", []):
            exists = conn.execute("SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s",
                                  (saved["table"], constraint["name"])).fetchone()
            if not exists:
                conn.execute(f'ALTER TABLE {saved["table"]} ADD CONSTRAINT "{constraint["name"]}" {constraint["definition"]}')


def _archive_to_unmounted_volume(ctx: FaultContext) -> None:
    command = wal_archive_command(ctx.config.home / UNMOUNTED_BACKUP_VOLUME)
    with ctx.db() as conn:
        altered = conn.execute("SELECT setting FROM pg_file_settings WHERE name = 'archive_command'"
                               " AND sourcefile LIKE '%postgresql.auto.conf' ORDER BY seqno DESC LIMIT 1").fetchone()
        ctx.keep({"alteredBefore": altered[0] if altered else None})
        _alter_archive_command(conn, command)
        _wait_archiving(ctx, conn, failing=True)


def _archive_to_backup_storage(ctx: FaultContext, saved: Saved) -> None:
    with ctx.db() as conn:
        _alter_archive_command(conn, saved.get("alteredBefore"))
        _wait_archiving(ctx, conn, failing=False)


def _alter_archive_command(conn: Any, command: str | None) -> None:
    """``ALTER SYSTEM SET archive_command`` (RESET for None: the configuration file's again), then reload."""
    if command is None:
        conn.execute("ALTER SYSTEM RESET archive_command")
    else:
        conn.execute(sql.SQL("ALTER SYSTEM SET archive_command = {}").format(sql.Literal(command)))
    conn.execute("SELECT pg_reload_conf()")


def _wait_archiving(ctx: FaultContext, conn: Any, failing: bool) -> None:
    """Close WAL segments until the archiver's last attempt failed (or succeeded): the reload reaches the
    archiver a moment after ``pg_reload_conf`` returns."""
    ctx.wait(lambda: close_wal_segment(conn), lambda archiver: archiver.failing == failing,
             f"PostgreSQL's WAL archiving to {'fail' if failing else 'succeed again'}", describe=_archiving,
             deadline_s=30)


def _archiving(archiver: WalArchiver) -> str:
    return f"last archived {archiver.last_archived()}, last failed {archiver.last_failed()}"


FAULTS = [
    Fault("redis-no-auth", "Redis requirepass removed (CONFIG SET requirepass '')",
          "preflight test_redis_answers_over_tls_and_requires_auth", _drop_password, _restore_password,
          undone_by="redis", needs=("redis",)),
    Fault("redis-eviction-policy", "Redis maxmemory-policy set to allkeys-lru (queue keys can be evicted)",
          "preflight test_redis_never_evicts_queue_keys",
          _redis_setting("maxmemory-policy", "allkeys-lru"), _redis_setting("maxmemory-policy", redis_keys.REQUIRED_EVICTION_POLICY),
          undone_by="redis", needs=("redis",)),
    Fault("redis-nearly-full", f"Redis holds a {FILLER_BYTES // 2**20} MiB value and maxmemory is lowered until {NEARLY_FULL_PERCENT}% of it"
          " is used (noeviction: at 100% every new job is refused)", "preflight test_redis_has_a_memory_limit_with_room_left",
          _fill_redis_to(NEARLY_FULL_PERCENT), _memory_limit_back, undone_by="redis", needs=("redis",)),
    Fault("redis-aof-off", "Redis appendonly set to no (queued jobs lost on restart)",
          "preflight test_redis_persists_with_append_only_file",
          _redis_setting("appendonly", "no"), _redis_setting("appendonly", "yes"),
          undone_by="redis", needs=("redis",)),
    Fault("redis-keyspace-events-off", "Redis notify-keyspace-events emptied",
          "preflight test_redis_publishes_the_keyspace_events_the_gate_follows",
          _redis_setting("notify-keyspace-events", ""), _redis_setting("notify-keyspace-events", redis_keys.KEYSPACE_EVENTS),
          undone_by="redis", needs=("redis",)),
    Fault("alarm-firing", f"{BACKLOG} escalations waiting in {redis_keys.BULI2_RETRY_QUEUE}: alarm {BACKLOG_ALARM} in ALARM",
          "infra test_no_filot_alarm_is_in_alarm", _fill_retry_queue, _drain_retry_queue, undone_by=None,
          needs=("redis", "controller")),
    Fault("migration-missing", "the newest migration recorded as not applied (its schema_migrations row deleted)",
          "preflight test_every_migration_of_the_release_is_applied", _forget_newest_migration, _record_migration,
          undone_by=None, needs=("postgres",)),
    Fault("table-missing", f"table {MISSING_TABLE} gone (renamed away)",
          "preflight test_core_tables_exist_with_primary_keys, test_foreign_keys_tie_documents_to_users_results_and_reviews",
          _hide_table, _unhide_table, undone_by=None, needs=("postgres",)),
    Fault("foreign-key-missing", "foreign key verification_results.document_id -> documents.id dropped",
          "preflight test_foreign_keys_tie_documents_to_users_results_and_reviews",
          _drop_constraint("verification_results", "f", "REFERENCES documents"), _add_constraints,
          undone_by=None, needs=("postgres",)),
    Fault("status-check-missing", "CHECK constraint on documents.verification_status dropped",
          "preflight test_document_status_is_constrained_to_the_contracts_statuses",
          _drop_constraint("documents", "c", "verification_status"), _add_constraints,
          undone_by=None, needs=("postgres",)),
    Fault("wal-archiving-failing", "PostgreSQL's archive_command (ALTER SYSTEM) copies WAL to a backup volume that is"
          " not mounted: every finished segment fails to archive, so backups stop", "preflight test_database_backups_are_configured",
          _archive_to_unmounted_volume, _archive_to_backup_storage, undone_by=None, needs=("postgres",)),
]
