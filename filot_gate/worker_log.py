"""The OCR worker's CloudWatch log: its latest lines, for the message of a job that got stuck (read-only
and best effort: when they cannot be read, the reader returns one line saying why, so the failure message
is shorter, not wrong), and the lines that name one job.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from filot_contract import aws_names
from filot_gate.checks import tasks, task_id
from filot_gate.task_logs import task_stream

SERVICE_KEY = "ocr-gpu"
#: How far the gate's clock may run ahead of the worker hosts' when it searches their lines by time.
CLOCK_SKEW_S = 300


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


def job_lines(logs: Any, job_id: str, since: float) -> list[dict[str, Any]]:
    """The worker's JSON log lines that name ``job_id``, written since ``since`` (epoch seconds, by the gate's
    clock; the hosts' clocks may differ by ``CLOCK_SKEW_S``), oldest first:
    ``aws logs filter-log-events --log-group-name /ecs/filot-ocr-gpu-worker --filter-pattern '"<job id>"'``."""
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=aws_names.GPU_LOG_GROUP, filterPattern=f'"{job_id}"', startTime=int((since - CLOCK_SKEW_S) * 1000))
    lines = []
    for event in (event for page in pages for event in page["events"]):
        try:
            line = json.loads(event["message"])
        except ValueError:
            continue
        if isinstance(line, dict):
            lines.append(line)
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
