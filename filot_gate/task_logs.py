"""A task's CloudWatch log stream, found as the ``awslogs`` driver names it:
``<awslogs-stream-prefix>/<container name>/<task id>`` in the container's ``awslogs-group``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from filot_gate.checks import error_code


@dataclass(frozen=True)
class TaskStream:
    task_id: str
    group: str
    stream: str


def task_stream(task_definition: dict, container: str, task_id: str) -> TaskStream:
    """Where ``container`` of a task of ``task_definition`` writes its logs."""
    definition = next(c for c in task_definition["containerDefinitions"] if c["name"] == container)
    options = (definition.get("logConfiguration") or {}).get("options") or {}
    prefix = options.get("awslogs-stream-prefix")
    stream = f"{prefix}/{container}/{task_id}" if prefix else task_id
    return TaskStream(task_id, options.get("awslogs-group", ""), stream)


def first_messages(logs: Any, where: TaskStream, limit: int = 100) -> list[str] | None:
    """The first ``limit`` messages of the stream, oldest first; None when the stream does not exist."""
    from botocore.exceptions import ClientError

    try:
        events = logs.get_log_events(logGroupName=where.group, logStreamName=where.stream,
                                     startFromHead=True, limit=limit)["events"]
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    return [e["message"] for e in events]

