"""What the gate's preflight and infra tests read from AWS, as an operator reads it with the CLI.

Each helper answers one question about the live state (``describe-services``, ``list-tasks``,
``describe-tasks``) and asserts only that the thing asked about exists, with a message naming it;
the tests assert the facts. Rewritten by pytest (``conftest.py`` registers this module), so a
failing assert here reads like one in a test. Evidence helpers gather what explains a failure:
ECS service events and the ``stoppedReason`` of recently stopped tasks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, TypeVar

import pytest

from filot_contract import aws_names

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

    from filot_gate.evidence import Evidence

T = TypeVar("T")

#: How many service events and stopped tasks go into a failing test's evidence.
EVIDENCE_EVENTS = 10
EVIDENCE_STOPPED_TASKS = 5


def error_code(exc: "ClientError") -> str:
    return exc.response.get("Error", {}).get("Code", "")


def unless_absent(call: Callable[[], T], *absent_codes: str) -> T | None:
    """The call's answer, or None when AWS answers that the thing does not exist (one of
    ``absent_codes``); any other error means the gate could not look, and propagates."""
    from botocore.exceptions import ClientError

    try:
        return call()
    except ClientError as exc:
        if error_code(exc) in absent_codes:
            return None
        raise


def deployed_arn(deploy_record: dict, service_key: str) -> str:
    """The revision this deploy shipped for the service; a service the deploy did not touch is skipped."""
    if service_key not in deploy_record["services"]:
        pytest.skip(f"deploy record {deploy_record['runId']} did not deploy {service_key}: no expected revision to compare")
    return deploy_record["services"][service_key]["taskDefinitionArn"]


def service_name(service_key: str) -> str:
    cluster, name, _, _ = aws_names.SERVICES[service_key]
    return f"ECS service {cluster}/{name}"


def describe_service(ecs: Any, service_key: str) -> dict:
    """``aws ecs describe-services`` of one FiLot service; it must exist."""
    cluster, name, _, _ = aws_names.SERVICES[service_key]
    found = ecs.describe_services(cluster=cluster, services=[name])["services"]
    assert found, f"{service_name(service_key)}: expected to exist, describe-services returned none"
    return found[0]


def tasks(ecs: Any, service_key: str, desired_status: str = "RUNNING") -> list[dict]:
    """``list-tasks`` + ``describe-tasks`` of one service (describe-tasks takes 100 ARNs per call)."""
    cluster, name, _, _ = aws_names.SERVICES[service_key]
    paginator = ecs.get_paginator("list_tasks")
    arns = [arn for page in paginator.paginate(cluster=cluster, serviceName=name, desiredStatus=desired_status)
            for arn in page["taskArns"]]
    return [task for start in range(0, len(arns), 100)
            for task in ecs.describe_tasks(cluster=cluster, tasks=arns[start:start + 100])["tasks"]]


def task_id(task: dict) -> str:
    return task["taskArn"].rsplit("/", 1)[-1]


def task_ip(task: dict) -> str | None:
    """The private IPv4 address of an awsvpc task's ENI (what an ``ip`` target group registers)."""
    for attachment in task.get("attachments", []):
        for detail in attachment.get("details", []):
            if detail.get("name") == "privateIPv4Address":
                return detail.get("value")
    return None


def add_service_evidence(evidence: "Evidence", ecs: Any, service_key: str, service: dict | None = None,
                         stopped: list[dict] | None = None) -> None:
    """The service's latest events and why its recently stopped tasks stopped (``service`` and ``stopped``
    when the caller has read them already)."""
    service = service or describe_service(ecs, service_key)
    evidence.add(f"{service_name(service_key)}: events (latest {EVIDENCE_EVENTS})",
                 [f"{e.get('createdAt')} {e['message']}" for e in service.get("events", [])[:EVIDENCE_EVENTS]])
    evidence.add(f"{service_name(service_key)}: deployments", service.get("deployments", []))
    stopped = sorted(tasks(ecs, service_key, "STOPPED") if stopped is None else stopped,
                     key=lambda t: str(t.get("stoppedAt", "")), reverse=True)
    evidence.add(f"{service_name(service_key)}: recently stopped tasks (latest {EVIDENCE_STOPPED_TASKS})", [
        {"task": task_id(t), "taskDefinition": t["taskDefinitionArn"], "stoppedAt": t.get("stoppedAt"),
         "stoppedReason": t.get("stoppedReason")}
        for t in stopped[:EVIDENCE_STOPPED_TASKS]
    ])

