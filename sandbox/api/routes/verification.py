"""``GET /verification/status/{documentId}`` and ``POST /verification/evaluate`` (admin).

Where the backend uses Temporal, ``evaluate`` starts a ``DocumentVerification`` workflow and answers 202
with its ids (seed 000 section 4: "start a test workflow via API"), and ``status`` shows the document's newest
run ("check workflow status"); otherwise ``evaluate`` evaluates at once.

The status route needs no token (seed 000's smoke flow reads it with a bare curl): document ids are
random UUIDs and the answer holds the verdict, not the card's fields.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import psycopg
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict
from temporalio.client import Client
from temporalio.service import RPCError

from sandbox.api.auth import Principal, authenticate, require_admin
from sandbox.api.db import Connection, fetch_all, fetch_one
from sandbox.api.errors import ApiError
from sandbox.api.logs import one_line
from sandbox.api.services import Services, ServicesDep
from sandbox.api.temporal_worker import latest_run, start_workflow
from sandbox.api.verdicts import NothingToScore, parse_uuid, reevaluate

router = APIRouter(prefix="/verification")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _document_id(value: str) -> uuid.UUID:
    parsed = parse_uuid(value)
    if parsed is None:
        raise ApiError(422, "documentId must be a UUID")
    return parsed


def _db_down(error: psycopg.Error) -> ApiError:
    return ApiError(503, f"database unavailable: {one_line(error)}")


async def _status_view(conn: Connection, document_id: uuid.UUID) -> dict[str, Any] | None:
    doc = await fetch_one(
        conn,
        "SELECT id, document_type, verification_status, job_id, created_at, updated_at FROM documents WHERE id = %s",
        (document_id,),
    )
    if doc is None:
        return None
    result = await fetch_one(
        conn,
        "SELECT score, decision, reasons, engine, device, worker_id, error, source, created_at"
        " FROM verification_results WHERE document_id = %s ORDER BY id DESC LIMIT 1",
        (document_id,),
    )
    review = await fetch_one(
        conn,
        "SELECT review_request_id, state, buli2_review_id, attempts, last_error, escalated_at, reviewer, decided_at"
        " FROM manual_reviews WHERE document_id = %s ORDER BY id DESC LIMIT 1",
        (document_id,),
    )
    history = await fetch_all(
        conn,
        "SELECT status, changed_at, detail FROM document_status_history WHERE document_id = %s ORDER BY changed_at, id",
        (document_id,),
    )
    timestamps: dict[str, str | None] = {}
    for change in history:
        timestamps.setdefault(change["status"], _iso(change["changed_at"]))
    return {
        "documentId": str(doc["id"]),
        "documentType": doc["document_type"],
        "jobId": str(doc["job_id"]),
        "status": doc["verification_status"],
        "score": float(result["score"]) if result and result["score"] is not None else None,
        "decision": result["decision"] if result else None,
        "reasons": result["reasons"] if result else [],
        "engine": result["engine"] if result else None,
        "device": result["device"] if result else None,
        "workerId": result["worker_id"] if result else None,
        "error": result["error"] if result else None,
        "review": None
        if review is None
        else {
            "reviewRequestId": str(review["review_request_id"]),
            "state": review["state"],
            "buli2ReviewId": review["buli2_review_id"],
            "attempts": review["attempts"],
            "lastError": review["last_error"],
            "escalatedAt": _iso(review["escalated_at"]),
            "reviewer": review["reviewer"],
            "decidedAt": _iso(review["decided_at"]),
        },
        "timestamps": timestamps,
        "history": [{"status": c["status"], "at": _iso(c["changed_at"]), "detail": c["detail"]} for c in history],
        "createdAt": _iso(doc["created_at"]),
        "updatedAt": _iso(doc["updated_at"]),
    }


@router.get("/status/{document_id}")
async def document_status(document_id: str, services: ServicesDep) -> dict[str, Any]:
    parsed = _document_id(document_id)
    try:
        async with services.pool.connection() as conn:
            view = await _status_view(conn, parsed)
    except psycopg.Error as error:
        raise _db_down(error) from None
    if view is None:
        raise ApiError(404, f"no document {parsed}")
    if services.temporal is not None:
        view["workflow"] = await _workflow_view(services.temporal, parsed)
    return view


async def _workflow_view(client: Client, document_id: uuid.UUID) -> dict[str, Any] | None:
    """The document's newest workflow run (seed 000 section 4: "check workflow status"), or what kept it away."""
    try:
        return await latest_run(client, document_id)
    except RPCError as error:
        return {"error": f"Temporal unavailable: {one_line(error)}"}


class EvaluateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    documentId: str


def _admin(request: Request, services: ServicesDep) -> Principal:
    """Dependency: the caller's token, which must carry role admin (resolved before the body)."""
    secret = services.settings.jwt_secret.get_secret_value()
    return require_admin(authenticate(request.headers.get("authorization"), secret))


@router.post("/evaluate")
async def evaluate(
    body: EvaluateRequest, admin: Annotated[Principal, Depends(_admin)], services: ServicesDep, response: Response
) -> dict[str, Any]:
    await services.evaluate_limiter.hit(admin.subject)
    document_id = _document_id(body.documentId)
    if services.temporal is not None:
        response.status_code = 202
        return await _start_verification(services, services.temporal, document_id, admin.subject)
    try:
        async with services.pool.connection() as conn, conn.transaction():
            outcome = await reevaluate(conn, services.judge, document_id, actor=admin.subject)
    except NothingToScore as error:
        raise ApiError(409, str(error)) from None
    except psycopg.Error as error:
        raise _db_down(error) from None
    if outcome is None:
        raise ApiError(404, f"no document {document_id}")
    if outcome.review_request_id is not None:
        await services.escalator.escalate(str(outcome.review_request_id))
    return outcome.summary()


async def _start_verification(services: Services, client: Client, document_id: uuid.UUID, actor: str) -> dict[str, Any]:
    """Start the document's workflow, once the document is known to exist."""
    try:
        async with services.pool.connection() as conn:
            known = await fetch_one(conn, "SELECT 1 AS known FROM documents WHERE id = %s", (document_id,))
    except psycopg.Error as error:
        raise _db_down(error) from None
    if known is None:
        raise ApiError(404, f"no document {document_id}")
    try:
        return await start_workflow(client, services.settings.temporal_task_queue, document_id, actor)
    except RPCError as error:
        raise ApiError(503, f"Temporal unavailable: {one_line(error)}") from None
