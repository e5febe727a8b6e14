"""Preflight: EPR's data stores take the credentials of its secret (seed 004 Prerequisites "PostgreSQL
database", "Upstash Redis instance"; Troubleshooting "Task Keeps Restarting": "Database connection
failure", "Invalid Redis credentials"). An EPR task reads ``filot/production/epr`` when it starts, so a
wrong value there crashes every new task while the running ones, started with the old value, serve on:
without these checks it would show only at the next deploy or task replacement."""

from __future__ import annotations

import httpx
import pytest

from filot_contract import aws_names

pytestmark = pytest.mark.preflight

SECRET = f"{aws_names.SECRETS_PREFIX}/epr"


def test_epr_database_answers_with_the_secrets_credentials(target):
    import psycopg

    where = target.redactor.text(target.epr_database_url)
    try:
        with psycopg.connect(target.epr_database_url, connect_timeout=5) as conn:
            answer = conn.execute("SELECT 1").fetchone()
    except psycopg.OperationalError as exc:
        pytest.fail(f"EPR database {where}: expected to accept a connection with EPR_DATABASE_URL's credentials"
                    f" (secret {SECRET}), got: {target.redactor.text(str(exc))}")
    assert answer == (1,), f"EPR database {where}: expected SELECT 1 to return 1, got {answer}"


def test_epr_redis_answers_ping_with_the_secrets_token(target):
    with target.epr_cache() as cache:
        where = f"EPR's Upstash REST API {cache.base_url} (EPR_REDIS_URL of secret {SECRET})"
        try:
            answer = cache.post("/", json=["PING"])
        except httpx.HTTPError as exc:
            pytest.fail(f"{where}: expected an answer to PING, got {type(exc).__name__}: {exc}")
    assert answer.status_code != 401, (
        f"{where}: expected PING to be answered with EPR_REDIS_TOKEN, got 401 {answer.text[:200]}: the token in the"
        " secret is not the database's (rotated in Upstash or mistyped); every new EPR task will exit at start-up"
    )
    assert answer.status_code == 200 and answer.json().get("result") == "PONG", (
        f"{where}: expected 200 {{\"result\": \"PONG\"}}, got {answer.status_code} {answer.text[:200]}"
    )
