"""Infra: the ECS services run the deployed revision, stable (seed 000 sections 2, 3 "Acceptance")."""

from __future__ import annotations

import pytest

from filot_contract import aws_names

pytestmark = pytest.mark.infra

SERVICES = pytest.mark.parametrize("service_key", list(aws_names.SERVICES))


def deployed_arn(deploy_record: dict, service_key: str) -> str:
    """The revision this deploy shipped for the service; a service the deploy did not touch is skipped."""
    if service_key not in deploy_record["services"]:
        pytest.skip(f"deploy record {deploy_record['runId']} did not deploy {service_key}: no expected revision to compare")
    return deploy_record["services"][service_key]["taskDefinitionArn"]


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


@SERVICES
def test_service_runs_exactly_the_deployed_revision_and_the_rollout_completed(ecs, deploy_record, service_key, evidence):
    expected = deployed_arn(deploy_record, service_key)
    service = describe(ecs, service_key)
    where = f"ECS service {service['serviceName']}"
    evidence.add("deployments", service["deployments"])
    evidence.add("ECS events (latest 10)", [e["message"] for e in service.get("events", [])[:10]])
    assert service["taskDefinition"] == expected, (
        f"{where}: expected task definition {expected} (deploy record {deploy_record['runId']}), runs {service['taskDefinition']}"
    )
    failed = [d for d in service["deployments"] if d.get("rolloutState") == "FAILED"]
    assert not failed, (
        f"{where}: deployment {failed[0]['taskDefinition']} FAILED ({failed[0].get('rolloutStateReason')});"
        " the circuit breaker rolled it back" if failed else ""
    )
    primary = next((d for d in service["deployments"] if d["status"] == "PRIMARY"), None)
    assert primary is not None and primary.get("rolloutState") == "COMPLETED", (
        f"{where}: expected the PRIMARY deployment COMPLETED, got {primary and primary.get('rolloutState')}"
        f" ({primary and primary.get('rolloutStateReason')})"
    )


@SERVICES
def test_every_running_task_runs_the_deployed_revision(ecs, deploy_record, service_key, evidence):
    cluster, name, _, _ = aws_names.SERVICES[service_key]
    expected = deployed_arn(deploy_record, service_key)
    arns = ecs.list_tasks(cluster=cluster, serviceName=name, desiredStatus="RUNNING")["taskArns"]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
    evidence.add("running tasks", [{"task": t["taskArn"], "taskDefinition": t["taskDefinitionArn"],
                                    "lastStatus": t["lastStatus"]} for t in tasks])
    assert tasks, f"ECS service {name}: expected running tasks, found none in cluster {cluster}"
    stray = [t["taskArn"].rsplit("/", 1)[-1] for t in tasks if t["taskDefinitionArn"] != expected]
    assert not stray, f"ECS service {name}: expected every running task on {expected}; tasks {stray} run another revision"
