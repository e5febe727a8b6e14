"""The backend's side of Temporal (``TEMPORAL_DISABLED=false``): the client that starts workflows, and the
worker, run by the API's process, that polls ``TEMPORAL_TASK_QUEUE`` and runs ``DocumentVerification``
and its two activities.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from datetime import timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool
from temporalio import activity
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.worker import Worker

from filot_contract import temporal
from sandbox.api.escalations import Escalator
from sandbox.api.scoring import Judge
from sandbox.api.settings import ApiSettings
from sandbox.api.verdicts import NothingToScore, reevaluate
from sandbox.api.workflow import DocumentVerification

#: Seconds the API waits for one call to Temporal (connecting at start-up, starting a run).
RPC_TIMEOUT_S = 10.0
#: Seconds the status route waits for Temporal's visibility; past it the answer says Temporal was unavailable.
STATUS_TIMEOUT_S = 2.0


class TemporalUnavailable(Exception):
    """Temporal did not answer for this endpoint and namespace; the message says what came instead."""


async def connect(settings: ApiSettings) -> Client:
    """A client of the settings' namespace, checked to exist (a wrong namespace would fail only at the first
    workflow); TemporalUnavailable otherwise."""
    where = f"TEMPORAL_ENDPOINT {settings.temporal_endpoint} namespace {settings.temporal_namespace!r}"
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    try:
        client = await asyncio.wait_for(
            Client.connect(settings.temporal_endpoint or "", namespace=settings.temporal_namespace or "", api_key=api_key,
                           tls=settings.temporal_tls, identity=f"filot-backend-{os.getpid()}@{socket.gethostname()}"),
            RPC_TIMEOUT_S)
        await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=client.namespace),
                                                         timeout=timedelta(seconds=RPC_TIMEOUT_S))
    except (RPCError, RuntimeError, asyncio.TimeoutError) as exc:
        raise TemporalUnavailable(f"{where}: {_reason(exc)}") from None
    return client


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return f"no answer within {RPC_TIMEOUT_S:g}s"
    return str(exc).splitlines()[0] or type(exc).__name__


class VerificationActivities:
    """The activities of ``DocumentVerification``, on the API's own pool, judge and BULI2 escalator."""

    def __init__(self, pool: AsyncConnectionPool, judge: Judge, escalator: Escalator) -> None:
        self.pool, self.judge, self.escalator = pool, judge, escalator

    @activity.defn(name=temporal.EVALUATE_ACTIVITY)
    async def evaluate_document(self, request: dict[str, str]) -> dict[str, Any]:
        document_id = uuid.UUID(request["documentId"])
        try:
            async with self.pool.connection() as conn, conn.transaction():
                outcome = await reevaluate(conn, self.judge, document_id, actor=request["actor"])
        except NothingToScore as error:
            raise ApplicationError(str(error), type="NothingToScore", non_retryable=True) from None
        except psycopg.Error as error:  # retried by Temporal
            raise ApplicationError(f"database unavailable: {error}", type="DatabaseUnavailable") from None
        if outcome is None:
            raise ApplicationError(f"no document {document_id}", type="UnknownDocument", non_retryable=True)
        return outcome.summary()

    @activity.defn(name=temporal.ESCALATE_ACTIVITY)
    async def escalate_review(self, review_request_id: str) -> None:
        """Hand the review to the escalator, whose own retry loop owns BULI2's answer from here."""
        await self.escalator.escalate(review_request_id)


async def start_workflow(client: Client, task_queue: str, document_id: uuid.UUID, actor: str) -> dict[str, str]:
    """Start one ``DocumentVerification`` run; its ids, as ``POST /verification/evaluate`` answers them."""
    workflow_id = temporal.workflow_id(str(document_id), uuid.uuid4().hex[:12])
    handle = await client.start_workflow(temporal.WORKFLOW, {"documentId": str(document_id), "actor": actor},
                                         id=workflow_id, task_queue=task_queue, execution_timeout=timedelta(hours=1),
                                         rpc_timeout=timedelta(seconds=RPC_TIMEOUT_S))
    return {"documentId": str(document_id), "workflowId": workflow_id, "runId": handle.result_run_id or "",
            "taskQueue": task_queue}


async def latest_run(client: Client, document_id: uuid.UUID) -> dict[str, Any] | None:
    """The document's newest ``DocumentVerification`` run as Temporal's visibility lists it, or None."""
    query = f'WorkflowId STARTS_WITH "{temporal.workflow_id_prefix(str(document_id))}"'
    async for run in client.list_workflows(query, limit=1, rpc_timeout=timedelta(seconds=STATUS_TIMEOUT_S)):
        return {"workflowId": run.id, "runId": run.run_id, "status": run.status.name if run.status else None,
                "startedAt": run.start_time.isoformat(), "closedAt": run.close_time.isoformat() if run.close_time else None}
    return None


def worker(client: Client, task_queue: str, activities: VerificationActivities) -> Worker:
    return Worker(client, task_queue=task_queue, workflows=[DocumentVerification],
                  activities=[activities.evaluate_document, activities.escalate_review])
