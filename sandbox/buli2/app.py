"""The simulator's HTTP API: BULI2's ``POST /reviews``, ``GET /health`` and the ``/admin`` routes."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sandbox.buli2.callbacks import CallbackSender
from sandbox.buli2.settings import Buli2Settings, Decision
from sandbox.buli2.state import Faults, RefusedEscalation, Review, Store
from sandbox.jsonlog import fields

log = logging.getLogger(__name__)

#: The answer of each fault mode to ``POST /reviews``.
FAULT_STATUS = {"down": 503, "error5xx": 500}


class Escalation(BaseModel):
    """FiLot's escalation body; fields beyond these are kept as sent."""

    model_config = ConfigDict(extra="allow")

    reviewRequestId: str = Field(min_length=1)
    documentId: str = Field(min_length=1)
    callbackUrl: str | None = None


class ScriptedDecision(BaseModel):
    documentId: str = Field(min_length=1)
    decision: Decision


def create_app(settings: Buli2Settings) -> FastAPI:
    store = Store()
    tasks: set[asyncio.Task] = set()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient() as client:
            app.state.sender = CallbackSender(client, settings, store)
            yield
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    app = FastAPI(title="BULI2 simulator", lifespan=lifespan)

    def authorized(header: str | None) -> bool:
        expected = f"Bearer {settings.api_key.get_secret_value()}"
        return header is not None and hmac.compare_digest(header.encode(), expected.encode())

    @app.post("/reviews")
    async def create_review(request: Request, authorization: str | None = Header(None)) -> JSONResponse:
        faults = store.faults
        if faults.mode in FAULT_STATUS:
            status = FAULT_STATUS[faults.mode]
            store.refused.append(RefusedEscalation(reviewRequestId=await _request_id(request), status=status, mode=faults.mode))
            return JSONResponse({"detail": f"BULI2 simulator in fault mode {faults.mode!r}"}, status_code=status)
        if faults.mode == "slow":
            await asyncio.sleep(faults.delayMs / 1000)  # sleep-ok: injected latency (fault mode "slow")
        if not authorized(authorization):
            return JSONResponse(
                {"detail": "missing or wrong bearer token (Authorization: Bearer <BULI2_API_KEY>)"}, status_code=401
            )
        try:
            escalation = Escalation.model_validate_json(await request.body())
        except ValidationError as error:
            return JSONResponse(
                {"detail": "escalation body is not as expected", "errors": error.errors(include_url=False, include_input=False)},
                status_code=422,
            )
        existing = store.reviews.get(escalation.reviewRequestId)
        if existing is not None:
            return JSONResponse({"reviewId": existing.reviewId, "duplicate": True}, status_code=200)
        callback_url = escalation.callbackUrl or settings.callback_url
        if callback_url is None:
            raise HTTPException(422, "callbackUrl missing and FILOT_CALLBACK_URL not configured")
        review = Review(
            reviewRequestId=escalation.reviewRequestId,
            documentId=escalation.documentId,
            callbackUrl=callback_url,
            request=escalation.model_dump(),
        )
        store.reviews[review.reviewRequestId] = review
        task = asyncio.create_task(app.state.sender.deliver(review))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        log.info(
            "escalation accepted",
            extra=fields(reviewId=review.reviewId, reviewRequestId=review.reviewRequestId, documentId=review.documentId),
        )
        return JSONResponse({"reviewId": review.reviewId, "duplicate": False}, status_code=201)

    @app.get("/health")
    async def health() -> JSONResponse:
        down = store.faults.mode == "down"
        return JSONResponse({"status": "down" if down else "ok", "mode": store.faults.mode}, status_code=503 if down else 200)

    @app.post("/admin/decisions")
    async def script_decision(decision: ScriptedDecision) -> ScriptedDecision:
        store.decisions[decision.documentId] = decision.decision
        return decision

    @app.post("/admin/mode")
    async def set_mode(faults: Faults) -> Faults:
        store.faults = faults
        log.warning("fault mode set", extra=fields(**faults.model_dump()))
        return faults

    @app.get("/admin/reviews")
    async def list_reviews() -> dict[str, object]:
        return {"faults": store.faults, "reviews": list(store.reviews.values()), "refused": store.refused}

    @app.post("/admin/reset")
    async def reset() -> dict[str, str]:
        """Forget everything (reviews, scripted decisions, refusals) and go back to normal mode."""
        for task in tasks:
            task.cancel()
        store.reviews.clear()
        store.decisions.clear()
        store.refused.clear()
        store.faults = Faults()
        return {"status": "reset"}

    return app


async def _request_id(request: Request) -> str | None:
    """The reviewRequestId of a body we refuse anyway, for the record (None if unreadable)."""
    try:
        return Escalation.model_validate_json(await request.body()).reviewRequestId
    except ValueError:
        return None
