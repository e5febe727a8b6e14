"""``POST /internal/reviews``: BULI2's signed callback settles a manual review (see callbacks.py)."""

from __future__ import annotations

import psycopg
from fastapi import APIRouter, Request
from redis.exceptions import RedisError

from sandbox.api import callbacks
from sandbox.api.errors import ApiError
from sandbox.api.logs import one_line
from sandbox.api.services import ServicesDep

router = APIRouter()
MAX_BODY_BYTES = 64 * 1024


@router.post("/internal/reviews")
async def review_callback(request: Request, services: ServicesDep) -> dict[str, str | bool]:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, f"callback body too large: at most {MAX_BODY_BYTES} bytes")
    raw = await request.body()
    settings = services.settings
    policy = settings.callback_policy()
    callback = callbacks.verify(settings.buli2_signature_secret.get_secret_value(), request.headers, raw, policy=policy)
    try:
        await callbacks.remember_once(services.redis, callback.callbackId, policy.replay_ttl_s)
    except RedisError as error:
        raise ApiError(503, f"replay guard (Redis) unavailable: {error}") from None
    try:
        async with services.pool.connection() as conn, conn.transaction():
            settled = await callbacks.settle(conn, callback)
    except psycopg.Error as error:
        await callbacks.forget(services.redis, callback.callbackId)
        raise ApiError(503, f"database unavailable, callback not applied: {one_line(error)}") from None
    except BaseException:
        await callbacks.forget(services.redis, callback.callbackId)  # not settled: a retry is judged afresh
        raise
    return {"documentId": str(settled.document_id), "status": settled.status, "alreadySettled": settled.already}
