"""Infra: the ECS services run the deployed revision, stable, with the circuit breaker armed
(seed 000 sections 2, 3 "Acceptance criteria" and 8, seed 001 "Service Configuration", DESIGN.md section 4),
and no task of this deployment has crashed since it began (seed 004 "Task Keeps Restarting")."""

from __future__ import annotations

import pytest

from filot_contract import aws_names
from filot_gate import task_stops
from filot_gate.checks import add_service_evidence, deployed_arn, describe_service, service_name, task_id, tasks

pytestmark = pytest.mark.infra

SERVICES = pytest.mark.parametrize("service_key", list(aws_names.SERVICES))


@SERVICES
def test_service_is_active_with_running_equal_to_desired(ecs, service_key, evidence):
    service = describe_service(ecs, service_key)
    add_service_evidence(evidence, ecs, service_key, service)
    where = service_name(service_key)
    assert service["status"] == "ACTIVE", f"{where}: expected status ACTIVE, got {service['status']}"
    assert service["runningCount"] == service["desiredCount"], (
        f"{where}: expected runningCount == desiredCount ({service['desiredCount']}), got {service['runningCount']}"
        f" running, {service.get('pendingCount')} pending"
    )
    assert service["desiredCount"] > 0, f"{where}: desiredCount is 0; the service is scaled to zero"


@SERVICES
def test_service_runs_exactly_the_deployed_revision(ecs, deploy_record, service_key, evidence):
    expected = deployed_arn(deploy_record, service_key)
    service = describe_service(ecs, service_key)
    add_service_evidence(evidence, ecs, service_key, service)
    assert service["taskDefinition"] == expected, (
        f"{service_name(service_key)}: expected task definition {expected} (deploy record {deploy_record['runId']}),"
        f" runs {service['taskDefinition']}"
    )


@SERVICES
def test_primary_deployment_completed(ecs, service_key, evidence):
    service = describe_service(ecs, service_key)
    add_service_evidence(evidence, ecs, service_key, service)
    primary = next((d for d in service["deployments"] if d["status"] == "PRIMARY"), None)
    assert primary is not None, f"{service_name(service_key)}: expected a PRIMARY deployment, found none"
    assert primary.get("rolloutState") == "COMPLETED", (
        f"{service_name(service_key)}: expected the PRIMARY deployment ({primary['taskDefinition']}) COMPLETED,"
        f" got {primary.get('rolloutState')} ({primary.get('rolloutStateReason')})"
    )


@SERVICES
def test_no_deployment_failed(ecs, service_key, evidence):
    service = describe_service(ecs, service_key)
    add_service_evidence(evidence, ecs, service_key, service)
    failed = [d for d in service["deployments"] if d.get("rolloutState") == "FAILED"]
    assert not failed, (
        f"{service_name(service_key)}: expected no FAILED deployment; {failed[0]['taskDefinition']} FAILED"
        f" ({failed[0].get('rolloutStateReason')})" if failed else ""
    )


@SERVICES
def test_circuit_breaker_is_enabled_with_rollback(ecs, service_key):
    service = describe_service(ecs, service_key)
    breaker = (service.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker") or {}
    assert breaker.get("enable") is True and breaker.get("rollback") is True, (
        f"{service_name(service_key)}: expected deploymentCircuitBreaker enable=true rollback=true (seed 001),"
        f" got enable={breaker.get('enable')} rollback={breaker.get('rollback')}"
    )


@SERVICES
def test_every_running_task_runs_the_deployed_revision(ecs, deploy_record, service_key, evidence):
    expected = deployed_arn(deploy_record, service_key)
    running = tasks(ecs, service_key)
    evidence.add("running tasks", [{"task": task_id(t), "taskDefinition": t["taskDefinitionArn"],
                                    "lastStatus": t["lastStatus"]} for t in running])
    add_service_evidence(evidence, ecs, service_key)
    assert running, f"{service_name(service_key)}: expected running tasks, found none"
    stray = [task_id(t) for t in running if t["taskDefinitionArn"] != expected]
    assert not stray, f"{service_name(service_key)}: expected every running task on {expected}; tasks {stray} run another revision"


@SERVICES
def test_no_task_of_this_deployment_stopped_on_a_failure(ecs, deploy_record, service_key, evidence):
    expected = deployed_arn(deploy_record, service_key)
    service = describe_service(ecs, service_key)
    since = task_stops.deployment_start(service, expected)
    stopped = tasks(ecs, service_key, "STOPPED")
    failed = [task_stops.describe(t) for t in task_stops.failed_since(stopped, expected, since)]
    evidence.add("tasks of this deployment that stopped on a failure (aws ecs describe-tasks)", failed)
    add_service_evidence(evidence, ecs, service_key, service, stopped)
    assert not failed, (
        f"{service_name(service_key)}: expected no task of {expected.rsplit('/', 1)[-1]} stopped on a failure since its"
        f" deployment began ({since.isoformat(timespec='seconds') if since else 'no deployment of it listed'});"
        f" {len(failed)} did, so the service is restarting tasks (running == desired hides it): {'; '.join(failed[:3])}"
    )
