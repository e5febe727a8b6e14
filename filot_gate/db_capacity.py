"""Connections: how many FiLot's PostgreSQL accepts from the services' role, and how many the services
may open at a deploy's peak (seed 002 section 2, "Set up database connection pooling (max connections)").

A rolling deploy runs up to ``maximumPercent`` of the desired tasks at once (old and new revisions side
by side), and each task's pool may grow to its ``DB_POOL_MAX``. The server refuses connections past the
smallest of ``max_connections`` less its reserved slots, the role's ``CONNECTION LIMIT`` and the
database's; a superuser role (least privilege says the services should not have one) is held only by
``max_connections``. Where an autoscaling policy may raise a service's desired count, its maximum
capacity counts. Behind a transaction-mode pooler (PgBouncer, Neon's ``-pooler`` host) the pools connect to
the pooler, which holds the server connections itself, so the comparison does not apply
(``[database] pooled``). Other databases on the same server (EPR's, in the sandbox) are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from filot_contract.schema import DATABASE_URL_ENV, DEFAULT_POOL_SIZE, POOL_SIZE_ENV


@dataclass(frozen=True)
class ConnectionLimit:
    """The most connections the services' role can hold, and the setting that makes it so."""

    connections: int
    set_by: str


def connection_limit(conn: Any) -> ConnectionLimit:
    """The smallest limit that applies to the connection's role (``current_user``) and database."""
    max_connections, reserved = conn.execute(
        "SELECT current_setting('max_connections')::int,"
        " current_setting('superuser_reserved_connections')::int"
        " + coalesce(current_setting('reserved_connections', true), '0')::int").fetchone()
    role, superuser, role_limit = conn.execute(
        "SELECT rolname, rolsuper, rolconnlimit FROM pg_roles WHERE rolname = current_user").fetchone()
    database, database_limit = conn.execute(
        "SELECT datname, datconnlimit FROM pg_database WHERE datname = current_database()").fetchone()
    if superuser:
        return ConnectionLimit(max_connections, f"max_connections {max_connections}; role {role} is a superuser")
    limits = [ConnectionLimit(max_connections - reserved,
                              f"max_connections {max_connections} less {reserved} reserved slots")]
    if role_limit >= 0:
        limits.append(ConnectionLimit(role_limit, f"role {role} CONNECTION LIMIT {role_limit}"))
    if database_limit >= 0:
        limits.append(ConnectionLimit(database_limit, f"database {database} CONNECTION LIMIT {database_limit}"))
    return min(limits, key=lambda limit: limit.connections)


@dataclass(frozen=True)
class PeakConnections:
    """What one service may open at a deploy's peak."""

    service: str
    tasks: int
    pool_per_task: int

    @property
    def connections(self) -> int:
        return self.tasks * self.pool_per_task

    def __str__(self) -> str:
        return f"{self.service}: {self.tasks} task(s) x {self.pool_per_task} = {self.connections}"


def peak_connections(service: dict, task_definition: dict, max_capacity: int | None = None) -> PeakConnections:
    """``service`` (as ``describe-services`` shows it) running ``task_definition``, scaled up to
    ``max_capacity`` where autoscaling may: ECS rounds the deploy's maximum down, and each container
    given the database pools up to its ``DB_POOL_MAX``."""
    configuration = service.get("deploymentConfiguration") or {}
    desired = max(service["desiredCount"], max_capacity or 0)
    tasks = desired * configuration.get("maximumPercent", 200) // 100
    pool = sum(_pool_size(c) for c in task_definition["containerDefinitions"] if _gets_the_database(c))
    return PeakConnections(service["serviceName"], max(tasks, desired), pool)


def _gets_the_database(container: dict) -> bool:
    named = [v["name"] for v in container.get("secrets", []) + container.get("environment", [])]
    return DATABASE_URL_ENV in named


def _pool_size(container: dict) -> int:
    value = next((e["value"] for e in container.get("environment", []) if e["name"] == POOL_SIZE_ENV), None)
    try:
        return int(value) if value is not None else DEFAULT_POOL_SIZE
    except ValueError:
        raise ValueError(f"container {container['name']}: {POOL_SIZE_ENV} {value!r} is not a number") from None
