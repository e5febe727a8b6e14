"""The gate reads Temporal as an operator would with ``temporal workflow show`` and ``temporal task-queue
describe``: the backend's own ``DocumentVerification`` workflow runs on the sandbox's Temporal (the CLI's dev
server) with stand-in activities, and ``filot_gate.temporal_runs`` reports what each run did."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from filot_contract import temporal
from filot_gate.temporal_runs import RunReport, TemporalConnection, TemporalUnreachable, describe_namespace, follow_run
from sandbox.api.workflow import DocumentVerification
from selftests.services import TemporalServer, temporal_server  # noqa: F401 - fixture by name

DEADLINE_S = 30.0


@activity.defn(name=temporal.EVALUATE_ACTIVITY)
async def evaluate_to_manual_review(request: dict[str, str]) -> dict[str, Any]:
    return {"documentId": request["documentId"], "status": "manual_review", "reviewRequestId": "review-1"}


@activity.defn(name=temporal.ESCALATE_ACTIVITY)
async def escalate(review_request_id: str) -> None:
    return None


@activity.defn(name=temporal.EVALUATE_ACTIVITY)
async def evaluate_unknown_document(request: dict[str, str]) -> dict[str, Any]:
    raise ApplicationError(f"no document {request['documentId']}", type="UnknownDocument", non_retryable=True)


def connection(server: TemporalServer, namespace: str | None = None) -> TemporalConnection:
    return TemporalConnection(server.endpoint, namespace or server.namespace, tls=False)


def run_workflow(server: TemporalServer, activities: Sequence[Any], deadline_s: float = DEADLINE_S) -> RunReport:
    """Start one run on a task queue of its own, with a worker of ``activities`` (none: no worker polls),
    and follow it with the gate's reader."""
    async def scenario() -> RunReport:
        client = await Client.connect(server.endpoint, namespace=server.namespace)
        queue = f"selftest-{uuid.uuid4().hex[:8]}"

        async def start_and_follow() -> RunReport:
            handle = await client.start_workflow(temporal.WORKFLOW, {"documentId": "d-1", "actor": "selftest"},
                                                 id=f"selftest-{uuid.uuid4().hex}", task_queue=queue)
            return await asyncio.to_thread(follow_run, connection(server), handle.id, handle.result_run_id or "",
                                           deadline_s)

        if not activities:
            return await start_and_follow()
        async with Worker(client, task_queue=queue, workflows=[DocumentVerification], activities=list(activities)):
            return await start_and_follow()

    return asyncio.run(scenario())


def test_a_completed_run_reads_as_its_activities_in_order(temporal_server):
    run = run_workflow(temporal_server, [evaluate_to_manual_review, escalate])
    assert run.status == "COMPLETED", run.explain()
    assert run.activities == temporal.expected_activities(run.result) == [temporal.EVALUATE_ACTIVITY,
                                                                          temporal.ESCALATE_ACTIVITY], run.explain()
    assert [step.outcome for step in run.steps] == ["completed", "completed"], run.explain()


def test_a_failed_activity_is_named_with_its_failure(temporal_server):
    run = run_workflow(temporal_server, [evaluate_unknown_document, escalate])
    assert run.status == "FAILED" and run.steps[0].outcome == "failed", run.explain()
    assert "evaluate_document (failed: no document d-1)" in run.explain(), run.explain()


def test_a_run_no_worker_polls_stays_open_and_names_the_pollers(temporal_server):
    run = run_workflow(temporal_server, [], deadline_s=1)
    assert run.status == "RUNNING" and run.pollers == {"workflow": 0, "activity": 0}, run.explain()
    assert "none scheduled" in run.explain() and "pollers: workflow 0, activity 0" in run.explain(), run.explain()


def test_the_namespace_is_described_and_an_unknown_one_refused(temporal_server):
    assert describe_namespace(connection(temporal_server))["state"] == "REGISTERED"
    with pytest.raises(TemporalUnreachable, match="namespace 'nope': Namespace nope is not found"):
        describe_namespace(connection(temporal_server, "nope"))


def test_an_endpoint_nothing_listens_on_is_one_clear_error():
    with pytest.raises(TemporalUnreachable, match="Temporal 127.0.0.1:1 namespace 'filot': "):
        describe_namespace(TemporalConnection("127.0.0.1:1", "filot", tls=False))
