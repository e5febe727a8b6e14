"""Reads of the live ECS state that deploys and rollbacks depend on (always re-read before mutating)."""

from __future__ import annotations

from typing import Any

from filot_gate.deploy.errors import DeployError


#: Stopped tasks read for a failed deployment's reasons (ECS keeps them about an hour; list order is not by age).
STOPPED_TASKS_READ = 300


def describe_service(ecs: Any, cluster: str, service: str) -> dict[str, Any]:
    """The live service, or a DeployError when it does not exist or is not ACTIVE."""
    response = ecs.describe_services(cluster=cluster, services=[service])
    found = [s for s in response.get("services", []) if s.get("status") == "ACTIVE"]
    if not found:
        reasons = "; ".join(f"{f.get('arn')}: {f.get('reason')}" for f in response.get("failures", []))
        raise DeployError(f"ECS service {service} in cluster {cluster} is not ACTIVE ({reasons or 'status INACTIVE/DRAINING'}); "
                          f"create it first (aws ecs create-service --cli-input-json from infra/ecs/)")
    return found[0]


def revision(task_definition_arn: str) -> int:
    """The revision number of ``arn:...:task-definition/<family>:<revision>``."""
    return int(task_definition_arn.rsplit(":", 1)[1])


def family_of(task_definition_arn: str) -> str:
    return task_definition_arn.rsplit("/", 1)[1].rsplit(":", 1)[0]


def previous_revision(ecs: Any, family: str, before: str) -> str | None:
    """The newest ACTIVE revision of ``family`` older than ``before`` (an ARN), or None."""
    limit = revision(before)
    paginator = ecs.get_paginator("list_task_definitions")
    older = [arn for page in paginator.paginate(familyPrefix=family, status="ACTIVE")
             for arn in page["taskDefinitionArns"] if family_of(arn) == family and revision(arn) < limit]
    return max(older, key=revision, default=None)


def recent_events(service: dict[str, Any], count: int = 5) -> str:
    """The newest ECS service events, one per line, as evidence in an error."""
    events = service.get("events", [])[:count]
    return "\n".join(f"  {e.get('createdAt')}: {e.get('message')}" for e in events) or "  (no service events)"


def stopped_reasons(ecs: Any, cluster: str, service: str, task_definition: str, count: int = 3) -> str:
    """Why the newest stopped tasks of ``task_definition`` stopped (``aws ecs describe-tasks``: stoppedReason),
    one distinct reason per line: what a deployment whose tasks never started has to say for itself. Only
    evidence: when ECS does not answer, the line says so instead of hiding the deployment's own error."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        pages = ecs.get_paginator("list_tasks").paginate(cluster=cluster, serviceName=service, desiredStatus="STOPPED",
                                                         PaginationConfig={"MaxItems": STOPPED_TASKS_READ})
        arns = [arn for page in pages for arn in page["taskArns"]]
        described = [t for start in range(0, len(arns), 100)
                     for t in ecs.describe_tasks(cluster=cluster, tasks=arns[start:start + 100])["tasks"]]
    except (BotoCoreError, ClientError) as exc:
        return f"  (stopped tasks unreadable: {exc})"
    ours = sorted((t for t in described if t.get("taskDefinitionArn") == task_definition and t.get("stoppedReason")),
                  key=lambda t: str(t.get("stoppedAt", "")), reverse=True)
    reasons = list(dict.fromkeys(t["stoppedReason"] for t in ours))[:count]
    return "\n".join(f"  stopped task: {reason}" for reason in reasons)
