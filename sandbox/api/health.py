"""``GET /health``: each dependency probed at once, each with the probe deadline.

200 when Redis, PostgreSQL, the bucket and both background loops are fine; 503 naming each one that
is not. BULI2 is reported (``buli2Reachable``) but does not fail the check: escalations wait in the
retry queue while it is down, which is what that queue is for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

from sandbox.api.services import Services

#: (response key, dependency name in the error) of each required probe.
_REQUIRED = (("redisConnected", "redis"), ("dbConnected", "postgres"), ("storageConnected", "storage"))


async def _probe(check: Awaitable[Any], timeout_s: float) -> str | None:
    """None when ``check`` finished in time, else why not."""
    try:
        await asyncio.wait_for(check, timeout_s)
    except TimeoutError:
        return f"no answer within {timeout_s:g}s"
    except Exception as error:  # a probe reports any failure of its dependency, whatever its type
        return f"{type(error).__name__}: {error}"
    return None


async def _ping_db(services: Services) -> None:
    async with services.pool.connection(timeout=services.settings.probe_timeout_s) as conn:
        await conn.execute("SELECT 1")


async def _buli2_reachable(services: Services, timeout_s: float) -> bool:
    try:
        return await asyncio.wait_for(services.buli2.reachable(), timeout_s)
    except TimeoutError:
        return False


async def check(services: Services) -> tuple[int, dict[str, Any]]:
    timeout = services.settings.probe_timeout_s
    *failures, reachable = await asyncio.gather(
        _probe(services.redis.ping(), timeout),
        _probe(_ping_db(services), timeout),
        _probe(services.store.probe(), timeout),
        _buli2_reachable(services, timeout),
    )
    body: dict[str, Any] = {key: failure is None for (key, _), failure in zip(_REQUIRED, failures, strict=True)}
    body["buli2Reachable"] = reachable
    body.update(services.background_state())
    problems = [
        f"{name} is down ({failure})" for (_, name), failure in zip(_REQUIRED, failures, strict=True) if failure
    ]
    problems += [f"{name} {state}" for name, state in services.background_state().items() if state != "running"]
    body["status"] = "unavailable" if problems else "ok"
    body["uptimeS"] = round(time.monotonic() - services.started_at, 1)
    if services.settings.filot_task_definition_arn:
        body["taskDefinitionArn"] = services.settings.filot_task_definition_arn
    if services.settings.filot_image:
        body["image"] = services.settings.filot_image
    if problems:
        body["error"] = "; ".join(problems)
        return 503, body
    return 200, body
