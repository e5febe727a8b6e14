"""The EPR API container: ``GET /healthz`` answers 200 when its database answers, 503 naming why not."""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from filot_contract.log_lines import STARTUP_MESSAGES
from sandbox.epr.settings import ApiSettings
from sandbox.jsonlog import fields

log = logging.getLogger("epr.api")


def _ping_database(settings: ApiSettings) -> None:
    import psycopg

    timeout = max(1, round(settings.probe_timeout_s))
    with psycopg.connect(settings.database_url.get_secret_value(), connect_timeout=timeout) as conn:
        conn.execute("SELECT 1")


def create_app(settings: ApiSettings) -> FastAPI:
    started = time.monotonic()

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        log.info(STARTUP_MESSAGES["epr"], extra=fields(port=settings.port, environment=settings.environment))
        yield

    app = FastAPI(title="Entity & Permissions Core (sandbox)", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> Any:
        try:
            await run_in_threadpool(_ping_database, settings)
        except Exception as error:  # the probe reports any failure of the database, whatever its type
            return JSONResponse({"status": "unavailable", "database": f"{type(error).__name__}: {error}"[:300]},
                                status_code=503)
        return {"status": "ok", "database": "connected", "uptimeS": round(time.monotonic() - started, 1)}

    return app
