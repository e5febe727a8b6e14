"""E2E step 1 (seed 000 section 7): the API answers /health with Redis and the database connected."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_health_reports_ok_with_redis_and_db_connected(api, evidence):
    response = api.get("/health")
    evidence.add("GET /health", response.text)
    assert response.status_code == 200, f"GET {api.base_url}/health: expected 200, got {response.status_code}: {response.text[:300]}"
    body = response.json()
    assert body.get("status") == "ok", f"/health: expected status ok, got {body.get('status')!r}"
    assert body.get("redisConnected") is True, f"/health: expected redisConnected true, got {body.get('redisConnected')!r}"
    assert body.get("dbConnected") is True, f"/health: expected dbConnected true, got {body.get('dbConnected')!r}"
