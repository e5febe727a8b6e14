"""A task's CloudWatch log stream, found as the ``awslogs`` driver names it:
``<awslogs-stream-prefix>/<container name>/<task id>`` in the container's ``awslogs-group``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from filot_gate.checks import error_code, task_id, tasks


#: Seconds a line may take to reach CloudWatch (profile ``[deadlines] logs_s``): the awslogs driver and the
#: service behind it batch lines for a few seconds, more under load.
DEFAULT_LOG_DELIVERY_S = 60


@dataclass(frozen=True)
class TaskStream:
    task_id: str
    group: str
    stream: str


def task_stream(task_definition: dict, container: str, task: str) -> TaskStream:
    """Where ``container`` of a task of ``task_definition`` writes its logs."""
    definition = next(c for c in task_definition["containerDefinitions"] if c["name"] == container)
    options = (definition.get("logConfiguration") or {}).get("options") or {}
    prefix = options.get("awslogs-stream-prefix")
    stream = f"{prefix}/{container}/{task}" if prefix else task
    return TaskStream(task, options.get("awslogs-group", ""), stream)


def revision_streams(ecs: Any, service_key: str, revision: str) -> list[TaskStream]:
    """Every container stream of the service's running tasks of ``revision`` (none when no task runs
    it: the service checks say why)."""
    task_definition = ecs.describe_task_definition(taskDefinition=revision)["taskDefinition"]
    ours = [task_id(t) for t in tasks(ecs, service_key) if t["taskDefinitionArn"] == revision]
    return [task_stream(task_definition, c["name"], tid) for tid in ours for c in task_definition["containerDefinitions"]]


#: Events one GetLogEvents call returns at most.
EVENTS_PER_PAGE = 10_000


def first_messages(logs: Any, where: TaskStream, limit: int = 100) -> list[str] | None:
    """The first ``limit`` messages of the stream, oldest first; None when the stream does not exist."""
    from botocore.exceptions import ClientError

    messages: list[str] = []
    token = None
    try:
        while len(messages) < limit:
            page = logs.get_log_events(logGroupName=where.group, logStreamName=where.stream, startFromHead=True,
                                       limit=min(EVENTS_PER_PAGE, limit - len(messages)),
                                       **({"nextToken": token} if token else {}))
            messages += [e["message"] for e in page["events"]]
            if not page["events"] or page.get("nextForwardToken") in (None, token):
                break  # the end of the stream: the same token comes back
            token = page["nextForwardToken"]
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    return messages

