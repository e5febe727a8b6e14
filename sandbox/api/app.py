"""``create_app(settings)``: the FiLot API as an ASGI app (FastAPI), its services started by the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware

from sandbox.api.errors import install_error_handlers
from sandbox.api.logs import event, without_credentials
from sandbox.api.metrics import ApiMetrics, RequestTimer
from sandbox.api.routes import documents, ops, reviews, verification
from sandbox.api.scoring import Judge, Scorer, load_default_scorer
from sandbox.api.services import Services
from sandbox.api.settings import ApiSettings

log = logging.getLogger("filot.api")


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered in the API's JSON error shape."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        reason = bytes(response.body).decode(errors="replace")
        return JSONResponse({"error": f"CORS preflight refused: {reason}"}, status_code=response.status_code)


def _started_line(settings: ApiSettings) -> None:
    event(
        log,
        logging.INFO,
        "FiLot API started",
        host=settings.host,
        port=settings.port,
        nodeEnv=settings.node_env,
        taskDefinitionArn=settings.filot_task_definition_arn,
        image=settings.filot_image,
        redis=without_credentials(settings.redis_url.get_secret_value()),
        database=without_credentials(settings.database_url.get_secret_value()),
        bucket=settings.cf_r2_bucket_name,
        buli2=without_credentials(settings.buli2_api_url),
        thresholds={
            "autoApprove": settings.ai_score_threshold_auto_approve,
            "autoReject": settings.ai_score_threshold_auto_reject,
        },
        corsAllowedOrigins=settings.cors_allowed_origins,
        temporal="disabled" if settings.temporal_disabled else {
            "endpoint": settings.temporal_endpoint, "namespace": settings.temporal_namespace,
            "taskQueue": settings.temporal_task_queue},
    )


def create_app(settings: ApiSettings, scorer: Scorer | None = None) -> FastAPI:
    """The API; ``scorer`` defaults to sandbox.ocr.score.score_document (ScorerUnavailable if missing)."""
    judge = Judge(
        scorer or load_default_scorer(),
        approve_at=settings.ai_score_threshold_auto_approve,
        reject_at=settings.ai_score_threshold_auto_reject,
    )
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = Services.build(settings, judge, metrics)
        await services.start()
        app.state.services = services
        _started_line(settings)
        if relaxed := settings.relaxed_checks():
            event(log, logging.WARNING, "FiLot API runs with relaxed security checks", relaxed=relaxed)
        try:
            yield
        finally:
            await services.stop()
            event(log, logging.INFO, "FiLot API stopped")

    public_docs = settings.node_env != "production"
    app = FastAPI(
        title="FiLot API",
        lifespan=lifespan,
        docs_url="/docs" if public_docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if public_docs else None,
    )
    install_error_handlers(app)
    app.add_middleware(
        JsonCORSMiddleware,
        allow_origins=settings.cors_allowed_origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        max_age=600,
    )
    app.add_middleware(RequestTimer, histogram=metrics.request_duration)
    for module in (ops, documents, verification, reviews):
        app.include_router(module.router)
    return app
