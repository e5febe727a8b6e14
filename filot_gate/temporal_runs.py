"""FiLot's Temporal as the gate reads it (seed 000 section 4 "validate workflow lifecycle", step 7; seed 002
section 4 "Verify Temporal connection"): the namespace, the pollers of a task queue, and what one workflow
run did, from its event history.

temporalio is asyncio only: each function here runs its own short event loop, and every call to
Temporal has a deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.api.enums.v1 import EventType, NamespaceState, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

T = TypeVar("T")
#: Seconds one call to Temporal may take.
RPC_TIMEOUT_S = 10.0


class TemporalUnreachable(Exception):
    """Temporal did not answer for this endpoint and namespace; the message says what came instead."""


@dataclass(frozen=True)
class TemporalConnection:
    """Where FiLot's Temporal is and how to sign in: the values of secret ``filot/production/temporal``."""

    endpoint: str
    namespace: str
    api_key: str | None = None
    #: None: TLS when an API key is given (Temporal Cloud), as the SDK and FiLot's backend decide
    tls: bool | None = None

    def __str__(self) -> str:
        return f"Temporal {self.endpoint} namespace {self.namespace!r}"

    def call(self, use: Callable[[Client], Awaitable[T]]) -> T:
        """``use(client)`` on a fresh client, in its own event loop; TemporalUnreachable on any RPC error."""
        return asyncio.run(self._call(use))

    async def _call(self, use: Callable[[Client], Awaitable[T]]) -> T:
        try:
            client = await asyncio.wait_for(
                Client.connect(self.endpoint, namespace=self.namespace, api_key=self.api_key, tls=self.tls,
                               identity="filot-gate"), RPC_TIMEOUT_S)
            return await use(client)
        except (RPCError, RuntimeError, asyncio.TimeoutError) as exc:
            reason = f"no answer within {RPC_TIMEOUT_S:g}s" if isinstance(exc, asyncio.TimeoutError) else str(exc)
            raise TemporalUnreachable(f"{self}: {reason.splitlines()[0] if reason else type(exc).__name__}") from None


def describe_namespace(connection: TemporalConnection) -> dict[str, Any]:
    """The namespace's state and retention, as ``temporal operator namespace describe`` shows them."""
    async def describe(client: Client) -> dict[str, Any]:
        answer = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=connection.namespace), timeout=timedelta(seconds=RPC_TIMEOUT_S))
        info = answer.namespace_info
        return {"name": info.name, "state": NamespaceState.Name(info.state).removeprefix("NAMESPACE_STATE_"),
                "retention": str(answer.config.workflow_execution_retention_ttl.ToTimedelta())}

    return connection.call(describe)


@dataclass
class ActivityStep:
    """One activity of a run: its type, the attempts Temporal made, and how it ended (or where it is)."""

    name: str
    attempts: int = 1
    outcome: str = "scheduled"
    failure: str | None = None

    def __str__(self) -> str:
        tries = f", {self.attempts} attempts" if self.attempts > 1 else ""
        return f"{self.name} ({self.outcome}{tries}{': ' + self.failure if self.failure else ''})"


@dataclass
class RunReport:
    """What one workflow run did: its status, result or failure, activities in order, and the workflow-task
    failures (a worker that cannot run the workflow's code); while it is open, who polls its task queue."""

    workflow_id: str
    run_id: str
    status: str
    task_queue: str = ""
    result: Any = None
    failure: str | None = None
    steps: list[ActivityStep] = field(default_factory=list)
    workflow_task_failures: list[str] = field(default_factory=list)
    #: while open: the activities Temporal is still trying, with their attempt and last failure
    pending: list[str] = field(default_factory=list)
    pollers: dict[str, int] = field(default_factory=dict)

    @property
    def activities(self) -> list[str]:
        return [step.name for step in self.steps]

    def explain(self) -> str:
        """The run in one line, for a failure message."""
        parts = [f"workflow {self.workflow_id} run {self.run_id}: {self.status}",
                 f"activities: {', '.join(map(str, self.steps)) or 'none scheduled'}"]
        if self.failure:
            parts.append(f"failure: {self.failure}")
        if self.workflow_task_failures:
            parts.append(f"workflow task failed: {'; '.join(self.workflow_task_failures[:3])}")
        if self.pending:
            parts.append(f"pending: {'; '.join(self.pending)}")
        if self.pollers:
            parts.append(f"task queue {self.task_queue} pollers: "
                         + ", ".join(f"{kind} {count}" for kind, count in self.pollers.items()))
        return "; ".join(parts)


def follow_run(connection: TemporalConnection, workflow_id: str, run_id: str, deadline_s: float,
               poll_s: float = 0.5) -> RunReport:
    """Wait up to ``deadline_s`` for the run to close, then read what it did from its history."""
    return connection.call(lambda client: _follow(client, workflow_id, run_id, deadline_s, poll_s))


async def _follow(client: Client, workflow_id: str, run_id: str, deadline_s: float, poll_s: float) -> RunReport:
    handle = client.get_workflow_handle(workflow_id, run_id=run_id or None)
    give_up = time.monotonic() + deadline_s
    while True:
        description = await handle.describe(rpc_timeout=timedelta(seconds=RPC_TIMEOUT_S))
        if description.status != WorkflowExecutionStatus.RUNNING or time.monotonic() >= give_up:
            break
        await asyncio.sleep(poll_s)  # sleep-ok: Temporal has no "wait for close" with a deadline we control
    report = RunReport(workflow_id, description.run_id, description.status.name, description.task_queue)
    history = await handle.fetch_history(rpc_timeout=timedelta(seconds=RPC_TIMEOUT_S))
    _read_history(history.events, report)
    if description.status == WorkflowExecutionStatus.COMPLETED:
        report.result = await handle.result(rpc_timeout=timedelta(seconds=RPC_TIMEOUT_S))
    elif description.status == WorkflowExecutionStatus.RUNNING:
        report.pending = [_pending(activity) for activity in description.raw_description.pending_activities]
        report.pollers = await _pollers(client, description.task_queue)
    return report


#: activity event -> (outcome, the event's attribute field)
_ACTIVITY_ENDS = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: ("completed", "activity_task_completed_event_attributes"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: ("failed", "activity_task_failed_event_attributes"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: ("timed out", "activity_task_timed_out_event_attributes"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: ("canceled", "activity_task_canceled_event_attributes"),
}


def _read_history(events: Any, report: RunReport) -> None:
    """Fill the report's activities (by their scheduled event) and failures from the event history."""
    scheduled: dict[int, ActivityStep] = {}
    for event in events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            step = ActivityStep(event.activity_task_scheduled_event_attributes.activity_type.name)
            scheduled[event.event_id] = step
            report.steps.append(step)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attributes = event.activity_task_started_event_attributes
            step = scheduled[attributes.scheduled_event_id]
            step.outcome, step.attempts = "started", attributes.attempt
            if attributes.HasField("last_failure"):
                step.failure = attributes.last_failure.message
        elif kind in _ACTIVITY_ENDS:
            outcome, name = _ACTIVITY_ENDS[kind]
            attributes = getattr(event, name)
            step = scheduled[attributes.scheduled_event_id]
            step.outcome = outcome
            if "failure" in attributes.DESCRIPTOR.fields_by_name and attributes.HasField("failure"):
                step.failure = attributes.failure.message
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            report.workflow_task_failures.append(event.workflow_task_failed_event_attributes.failure.message)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            report.failure = event.workflow_execution_failed_event_attributes.failure.message


def _pending(activity: Any) -> str:
    failure = activity.last_failure.message if activity.HasField("last_failure") else "none"
    return f"{activity.activity_type.name} attempt {activity.attempt} (last failure: {failure})"


async def _pollers(client: Client, task_queue: str) -> dict[str, int]:
    """Workers polling ``task_queue`` for workflow and for activity tasks (DescribeTaskQueue)."""
    counts = {}
    for kind, queue_type in (("workflow", TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
                             ("activity", TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)):
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
                                     task_queue_type=queue_type), timeout=timedelta(seconds=RPC_TIMEOUT_S))
        counts[kind] = len(answer.pollers)
    return counts
