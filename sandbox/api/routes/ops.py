"""Operator routes: ``GET /health`` and ``GET /metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from sandbox.api import health
from sandbox.api.errors import ApiError
from sandbox.api.services import ServicesDep

router = APIRouter()


@router.get("/health")
async def get_health(services: ServicesDep) -> JSONResponse:
    status, body = await health.check(services)
    return JSONResponse(body, status_code=status)


@router.get("/metrics")
async def get_metrics(services: ServicesDep) -> Response:
    if not services.settings.metrics_enabled:
        raise ApiError(404, "metrics are off in this deployment (METRICS_ENABLED=false)")
    text = await services.metrics.render(services.redis, services.pool)
    return Response(text, media_type=CONTENT_TYPE_LATEST)
