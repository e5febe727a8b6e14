"""Infra: the ECS services run the deployed revision, stable (seed 000 sections 2, 3 "Acceptance")."""

from __future__ import annotations

import pytest

from filot_contract import aws_names

pytestmark = pytest.mark.infra

SERVICES = pytest.mark.parametrize("service_key", list(aws_names.SERVICES))


def describe(ecs, service_key: str) -> dict:
    cluster, name, _, _ = aws_names.SERVICES[service_key]
    found = ecs.describe_services(cluster=cluster, services=[name])["services"]
    assert found, f"ECS service {cluster}/{name}: expected to exist, describe-services returned none"
    return found[0]


@SERVICES
def test_service_is_active_with_running_equal_to_desired(ecs, service_key, evidence):
    service = describe(ecs, service_key)
    evidence.add("ECS events (latest 10)", [e["message"] for e in service.get("events", [])[:10]])
    where = f"ECS service {service['clusterArn'].rsplit('/', 1)[-1]}/{service['serviceName']}"
    assert service["status"] == "ACTIVE", f"{where}: expected status ACTIVE, got {service['status']}"
    assert service["runningCount"] == service["desiredCount"], (
        f"{where}: expected runningCount == desiredCount ({service['desiredCount']}), got {service['runningCount']}"
        f" running, {service.get('pendingCount')} pending"
    )
    assert service["desiredCount"] > 0, f"{where}: desiredCount is 0; the service is scaled to zero"
