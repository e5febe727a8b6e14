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
def as_app_role(fresh_database: str):  # noqa: F811
    """(the admin connection, a connection as a login role that is not a superuser); the role dropped afterwards."""
    role = f"app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(fresh_database, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        with psycopg.connect(fresh_database, user=role, autocommit=True) as conn:
            yield admin, conn
        admin.execute(f"DROP ROLE {role}")


def test_a_role_without_limits_has_max_connections_less_the_reserved_slots(as_app_role):
    _, conn = as_app_role
    max_connections, reserved = conn.execute(
        "SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int").fetchone()
    limit = connection_limit(conn)
    assert limit.connections == max_connections - reserved
    assert f"max_connections {max_connections} less {reserved} reserved slots" in limit.set_by


def test_the_role_s_connection_limit_holds_when_it_is_the_smallest(as_app_role):
    admin, conn = as_app_role
    role = conn.info.user
    admin.execute(f"ALTER ROLE {role} CONNECTION LIMIT 7")
    assert (connection_limit(conn).connections, connection_limit(conn).set_by) == (7, f"role {role} CONNECTION LIMIT 7")


def test_the_database_s_connection_limit_holds_when_it_is_the_smallest(as_app_role):
    admin, conn = as_app_role
    admin.execute(f"ALTER ROLE {conn.info.user} CONNECTION LIMIT 7")
    admin.execute(f'ALTER DATABASE "{conn.info.dbname}" CONNECTION LIMIT 5')
    assert connection_limit(conn).set_by == f"database {conn.info.dbname} CONNECTION LIMIT 5"


def test_a_superuser_is_held_only_by_max_connections(as_app_role):
    admin, _ = as_app_role
    admin.execute("ALTER ROLE postgres CONNECTION LIMIT 3")
    try:
        limit = connection_limit(admin)
    finally:
        admin.execute("ALTER ROLE postgres CONNECTION LIMIT -1")
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


def test_autoscaling_s_maximum_capacity_counts_where_it_is_above_the_desired_count():
    service = {"serviceName": "filot-backend-service", "desiredCount": 2, "deploymentConfiguration": {"maximumPercent": 200}}
    task_definition = {"containerDefinitions": [container("api", database=True)]}
    assert peak_connections(service, task_definition, max_capacity=6).tasks == 12
    assert peak_connections(service, task_definition, max_capacity=1).tasks == 4


def test_a_db_pool_max_that_is_not_a_number_is_named():
    service = {"serviceName": "filot-backend-service", "desiredCount": 1}
    with pytest.raises(ValueError, match="container api: DB_POOL_MAX 'ten' is not a number"):
        peak_connections(service, {"containerDefinitions": [container("api", database=True, pool="ten")]})
