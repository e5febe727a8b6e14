"""Infra: the backend behind its ALB (seed 000 section 2 "Attach ecs service to ALB target group with
health check /health", "Health checks green"; Acceptance Criteria "behind ALB, health checks green")."""

from __future__ import annotations

import pytest

from filot_contract import aws_names
from filot_gate.checks import add_service_evidence, task_id, task_ip, tasks, unless_absent

pytestmark = pytest.mark.infra


def describe_target_group(target) -> dict:
    found = unless_absent(lambda: target.client("elbv2").describe_target_groups(Names=[aws_names.TARGET_GROUP_NAME]),
                          "TargetGroupNotFound")
    assert found and found["TargetGroups"], f"ALB target group {aws_names.TARGET_GROUP_NAME}: expected to exist, it does not"
    return found["TargetGroups"][0]


def test_target_group_health_check_is_the_backends_health_route(target):
    target_group = describe_target_group(target)
    path = target_group.get("HealthCheckPath")
    assert target_group.get("HealthCheckEnabled", True) and path == aws_names.HEALTH_CHECK_PATH, (
        f"ALB target group {aws_names.TARGET_GROUP_NAME}: expected health check on {aws_names.HEALTH_CHECK_PATH},"
        f" got enabled={target_group.get('HealthCheckEnabled')} path={path}"
    )


def test_every_backend_task_is_a_healthy_target(target, ecs, evidence):
    target_group = describe_target_group(target)
    health = target.client("elbv2").describe_target_health(TargetGroupArn=target_group["TargetGroupArn"])
    described = health["TargetHealthDescriptions"]
    evidence.add(f"target health of {aws_names.TARGET_GROUP_NAME}", described)
    running = {task_ip(t): task_id(t) for t in tasks(ecs, "backend")}
    add_service_evidence(evidence, ecs, "backend")
    where = f"ALB target group {aws_names.TARGET_GROUP_NAME}"
    assert running, f"{where}: expected running backend tasks to register, {aws_names.BACKEND_SERVICE} has none"
    registered = {d["Target"]["Id"] for d in described}
    unregistered = [f"{running[ip]} ({ip})" for ip in running if ip not in registered]
    assert not unregistered, f"{where}: expected every running backend task registered; not registered: {', '.join(unregistered)}"
    unhealthy = [
        f"{d['Target']['Id']}:{d['Target'].get('Port')} {d['TargetHealth']['State']}"
        f" ({d['TargetHealth'].get('Reason')}: {d['TargetHealth'].get('Description')})"
        for d in described if d["TargetHealth"]["State"] != "healthy"
    ]
    assert not unhealthy, f"{where}: expected every target healthy on {aws_names.HEALTH_CHECK_PATH}; {'; '.join(unhealthy)}"
