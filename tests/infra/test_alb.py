"""Infra: each service behind its load balancer, health-checked on its own health route (seed 000 section 2
"Attach ecs service to ALB target group with health check /health", "Health checks green"; Acceptance
Criteria "behind ALB, health checks green"; seed 004 "Health Check Endpoint" "Via load balancer": EPR's
``/healthz``)."""

from __future__ import annotations

import pytest

from filot_contract import aws_names
from filot_gate.checks import add_service_evidence, task_id, task_ip, tasks, unless_absent

pytestmark = pytest.mark.infra

BEHIND_A_LOAD_BALANCER = list(aws_names.TARGET_GROUPS)


def describe_target_group(target, name: str) -> dict:
    found = unless_absent(lambda: target.client("elbv2").describe_target_groups(Names=[name]), "TargetGroupNotFound")
    assert found and found["TargetGroups"], f"target group {name}: expected to exist, it does not"
    return found["TargetGroups"][0]


@pytest.mark.parametrize("service", BEHIND_A_LOAD_BALANCER)
def test_target_group_health_check_is_the_services_health_route(target, service):
    name, route = aws_names.TARGET_GROUPS[service]
    target_group = describe_target_group(target, name)
    path = target_group.get("HealthCheckPath")
    assert target_group.get("HealthCheckEnabled", True) and path == route, (
        f"target group {name}: expected health check on {route}, got enabled={target_group.get('HealthCheckEnabled')}"
        f" path={path}"
    )


@pytest.mark.parametrize("service", BEHIND_A_LOAD_BALANCER)
def test_every_task_of_the_service_is_a_healthy_target(target, ecs, evidence, service):
    name, route = aws_names.TARGET_GROUPS[service]
    service_name = aws_names.SERVICES[service][1]
    target_group = describe_target_group(target, name)
    health = target.client("elbv2").describe_target_health(TargetGroupArn=target_group["TargetGroupArn"])
    described = health["TargetHealthDescriptions"]
    evidence.add(f"target health of {name}", described)
    running = {task_ip(t): task_id(t) for t in tasks(ecs, service)}
    add_service_evidence(evidence, ecs, service)
    where = f"target group {name}"
    assert running, f"{where}: expected running {service} tasks to register, {service_name} has none"
    registered = {d["Target"]["Id"] for d in described}
    unregistered = [f"{running[ip]} ({ip})" for ip in running if ip not in registered]
    assert not unregistered, f"{where}: expected every running {service} task registered; not registered: {', '.join(unregistered)}"
    unhealthy = [
        f"{d['Target']['Id']}:{d['Target'].get('Port')} {d['TargetHealth']['State']}"
        f" ({d['TargetHealth'].get('Reason')}: {d['TargetHealth'].get('Description')})"
        for d in described if d["TargetHealth"]["State"] != "healthy"
    ]
    assert not unhealthy, f"{where}: expected every target healthy on {route}; {'; '.join(unhealthy)}"
