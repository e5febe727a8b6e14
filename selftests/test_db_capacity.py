"""What the connection check counts, against a real PostgreSQL: the limit that holds a role (server,
role, database; a superuser only by max_connections), and what a service's pools may open at a deploy's
peak. The fault ``deploy-peak-over-database-limit`` fails the gate check itself (test_faults_preflight)."""

from __future__ import annotations

import uuid
import psycopg
import pytest

from filot_gate.db_capacity import connection_limit, peak_connections
from selftests.services import fresh_database, postgres_server  # noqa: F401 - fixtures


@pytest.fixture
def app_role(fresh_database: str):  # noqa: F811
    """A login role that is not a superuser, dropped afterwards."""
    role = f"app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        yield conn, role
        conn.execute(f"DROP ROLE {role}")


def test_a_role_without_limits_has_max_connections_less_the_superuser_slots(app_role):
    conn, role = app_role
    max_connections, reserved = conn.execute(
        "SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int").fetchone()
    limit = connection_limit(conn, role)
    assert limit.connections == max_connections - reserved
    assert f"max_connections {max_connections} less {reserved} reserved" in limit.set_by


def test_the_role_s_connection_limit_holds_when_it_is_the_smallest(app_role):
    conn, role = app_role
    conn.execute(f"ALTER ROLE {role} CONNECTION LIMIT 7")
    assert connection_limit(conn, role).set_by == f"role {role} CONNECTION LIMIT 7"
    assert connection_limit(conn, role).connections == 7


def test_the_database_s_connection_limit_holds_when_it_is_the_smallest(app_role):
    conn, role = app_role
    database = conn.info.dbname
    conn.execute(f"ALTER ROLE {role} CONNECTION LIMIT 7")
    conn.execute(f'ALTER DATABASE "{database}" CONNECTION LIMIT 5')
    assert connection_limit(conn, role).set_by == f"database {database} CONNECTION LIMIT 5"


def test_a_superuser_is_held_only_by_max_connections(app_role):
    conn, _ = app_role
    conn.execute("ALTER ROLE postgres CONNECTION LIMIT 3")
    try:
        limit = connection_limit(conn, "postgres")
    finally:
        conn.execute("ALTER ROLE postgres CONNECTION LIMIT -1")
    assert limit.set_by.endswith("role postgres is a superuser")


def container(name: str, *, database: bool, pool: str | None = None) -> dict:
    return {"name": name, "secrets": [{"name": "DATABASE_URL", "valueFrom": "arn"}] if database else [],
            "environment": [{"name": "DB_POOL_MAX", "value": pool}] if pool is not None else []}


def test_a_deploy_s_peak_is_maximum_percent_of_the_desired_tasks_times_the_pools():
    service = {"serviceName": "filot-backend-service", "desiredCount": 3, "deploymentConfiguration": {"maximumPercent": 150}}
    task_definition = {"containerDefinitions": [container("api", database=True, pool="4"), container("sidecar", database=False)]}
    peak = peak_connections(service, task_definition)
    assert (peak.tasks, peak.pool_per_task, peak.connections) == (4, 4, 16)  # 4.5 tasks: ECS rounds down
    assert str(peak) == "filot-backend-service: 4 task(s) x 4 = 16"


def test_a_container_without_db_pool_max_pools_the_services_default():
    service = {"serviceName": "filot-ocr-gpu-service", "desiredCount": 1, "deploymentConfiguration": {"maximumPercent": 100}}
    assert peak_connections(service, {"containerDefinitions": [container("worker", database=True)]}).connections == 10


def test_a_db_pool_max_that_is_not_a_number_is_named():
    service = {"serviceName": "filot-backend-service", "desiredCount": 1}
    with pytest.raises(ValueError, match="container api: DB_POOL_MAX 'ten' is not a number"):
        peak_connections(service, {"containerDefinitions": [container("api", database=True, pool="ten")]})
