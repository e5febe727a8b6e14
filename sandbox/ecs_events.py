"""ECS service events as ECS writes them, so that ``describe-services`` shows the sandbox's history
the way an operator reads it on AWS (newest first, at most ``KEEP`` kept).

Only the agent writes them; the wording follows the messages ECS publishes, so a runbook that
greps for "has reached a steady state" or "deployment failed" works on both.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

#: ECS keeps the latest 100 events of a service.
KEEP = 100


def record(service: Any, message: str) -> None:
    """Add one event to a moto ``Service`` (newest first)."""
    service.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": datetime.now(timezone.utc),
                              "message": f"(service {service.name}) {message}"})
    del service.events[KEEP:]


def short(task_arn: str) -> str:
    return task_arn.rsplit("/", 1)[-1]


def started(task_arn: str) -> str:
    return f"has started 1 tasks: (task {short(task_arn)})."


def stopped(task_arn: str) -> str:
    return f"has stopped 1 running tasks: (task {short(task_arn)})."


def steady() -> str:
    return "has reached a steady state."


def deployment_completed(deployment_id: str) -> str:
    return f"(deployment {deployment_id}) deployment completed."


def deployment_failed(deployment_id: str) -> str:
    return f"(deployment {deployment_id}) deployment failed: tasks failed to start."


def rolling_back(deployment_id: str, task_definition_arn: str) -> str:
    return (f"(deployment {deployment_id}) deployment circuit breaker: rolling back to "
            f"{task_definition_arn.rsplit('/', 1)[-1]}.")


def registered(target_group_arn: str) -> str:
    return f"registered 1 targets in (target-group {target_group_arn})"


def deregistered(target_group_arn: str) -> str:
    return f"deregistered 1 targets in (target-group {target_group_arn})"


def target_unhealthy(task_arn: str, port: int, target_group_arn: str, reason: str) -> str:
    return f"(task {short(task_arn)}) (port {port}) is unhealthy in (target-group {target_group_arn}) due to (reason {reason})."


def unable_to_place(reason: str) -> str:
    return f"was unable to place a task because no container instance met all of its requirements. Reason: {reason}"
