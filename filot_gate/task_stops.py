"""Why an ECS task stopped, read as seed 004's "Task Keeps Restarting" step reads it (``aws ecs
describe-tasks`` of the STOPPED tasks: ``stopCode``, ``stoppedReason``, the containers' exit codes).

A task stops either on a failure of its own (it could not start, an essential container exited, it
failed its health checks) or by somebody's decision (a deployment replaced it, the service scaled in,
an operator ran stop-task, Spot or EC2 took the instance back). The service scheduler replaces a failed
task at once, so ``runningCount == desiredCount`` hides a crash loop; only the stopped tasks show it.
ECS lists a stopped task for about an hour, which covers a gate run right after the deploy.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

#: Stop codes that are the task's own failure. ``ServiceSchedulerInitiated`` is not among them: the
#: scheduler uses it for a scale-in and a replaced deployment too, so only its reason tells.
FAILURE_STOP_CODES = frozenset({"TaskFailedToStart", "EssentialContainerExited"})
#: The reasons the scheduler gives when it stops a task that failed its health checks.
HEALTH_CHECK_FAILURE = re.compile(r"failed (ELB|container) health checks", re.IGNORECASE)


def is_failure(task: dict[str, Any]) -> bool:
    """The task stopped on a failure of its own, not by a deployment, a scale-in or an operator."""
    return (task.get("stopCode") in FAILURE_STOP_CODES
            or bool(HEALTH_CHECK_FAILURE.search(task.get("stoppedReason") or "")))


def deployment_start(service: dict[str, Any], task_definition_arn: str) -> datetime | None:
    """When the newest deployment of ``task_definition_arn`` began (a ``--force-new-deployment`` of the
    same revision begins a new one); None when the service has no deployment of it any more."""
    starts = [d["createdAt"] for d in service.get("deployments", [])
              if d.get("taskDefinition") == task_definition_arn and d.get("createdAt")]
    return max(starts, default=None)


def failed_since(stopped: list[dict[str, Any]], task_definition_arn: str, since: datetime | None) -> list[dict[str, Any]]:
    """The stopped tasks of ``task_definition_arn`` that failed at or after ``since``, newest first."""
    failed = [t for t in stopped if t.get("taskDefinitionArn") == task_definition_arn and is_failure(t)
              and (since is None or t.get("stoppedAt") is None or t["stoppedAt"] >= since)]
    return sorted(failed, key=lambda t: str(t.get("stoppedAt", "")), reverse=True)


def describe(task: dict[str, Any]) -> str:
    """One line per stopped task: id, when, code and reason, and each container's exit code."""
    exits = ", ".join(f"{c['name']} exit {c.get('exitCode', '-')}" for c in task.get("containers", [])
                      if c.get("exitCode") not in (None, 0) or c.get("reason"))
    when = task["stoppedAt"].isoformat(timespec="seconds") if isinstance(task.get("stoppedAt"), datetime) else "-"
    return (f"{task['taskArn'].rsplit('/', 1)[-1]} stopped {when}: {task.get('stopCode', '-')}:"
            f" {task.get('stoppedReason', '-')}" + (f" ({exits})" if exits else ""))
