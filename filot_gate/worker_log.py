"""The OCR worker's latest CloudWatch log lines, for the message of a job that got stuck.

Read-only and best effort: when the lines cannot be read (no stream yet, no permission, AWS
unreachable) the reader returns one line saying why, so the failure message is shorter, not wrong.
"""

from __future__ import annotations

from typing import Any, Callable

from filot_contract import aws_names
from filot_gate.checks import tasks, task_id
from filot_gate.task_logs import task_stream

SERVICE_KEY = "ocr-gpu"


def latest_lines(ecs: Any, logs: Any, limit: int) -> list[str]:
    """The last ``limit`` messages of each running worker task, prefixed with the task id."""
    container = aws_names.SERVICES[SERVICE_KEY][3]
    lines: list[str] = []
    definitions: dict[str, dict] = {}
    for task in tasks(ecs, SERVICE_KEY):
        arn = task["taskDefinitionArn"]
        definitions.setdefault(arn, ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"])
        where = task_stream(definitions[arn], container, task_id(task))
        events = logs.get_log_events(logGroupName=where.group, logStreamName=where.stream,
                                     startFromHead=False, limit=limit)["events"]
        lines.extend(f"[{where.task_id[:8]}] {event['message']}" for event in events)
    return lines


def tail_reader(target: Any, limit: int = 5) -> Callable[[], list[str]]:
    """A function returning the worker's last log lines, or one line saying why they cannot be read."""

    def read() -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return latest_lines(target.client("ecs"), target.client("logs"), limit) or ["(no running worker task, or no lines yet)"]
        except (ClientError, BotoCoreError, StopIteration) as error:
            return [f"(not readable: {type(error).__name__}: {error})"]

    return read
