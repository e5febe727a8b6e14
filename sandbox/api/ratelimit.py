"""Per-client fixed-window rate limit in Redis (shared by every API task): 429 with Retry-After."""

from __future__ import annotations

import math
import time

from redis.asyncio import Redis

from filot_contract.redis_keys import RATE_LIMIT_PREFIX
from sandbox.api.errors import ApiError

WINDOW_S = 60


class RateLimiter:
    def __init__(self, redis: Redis, per_minute: int, scope: str) -> None:
        self._redis = redis
        self._limit = per_minute
        self._scope = scope

    async def hit(self, client_id: str, now: float | None = None) -> None:
        """Count one request of ``client_id``; raise 429 once it is past the limit in this minute."""
        now = time.time() if now is None else now
        window = int(now // WINDOW_S)
        key = f"{RATE_LIMIT_PREFIX}{self._scope}:{client_id}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            count, _ = await pipe.incr(key).expire(key, WINDOW_S * 2).execute()
        if count > self._limit:
            retry_after = max(1, math.ceil((window + 1) * WINDOW_S - now))
            limit = f"{self._limit} {self._scope} requests per minute per client"
            raise ApiError(
                429, f"rate limit exceeded: {limit}; retry in {retry_after}s", {"Retry-After": str(retry_after)}
            )
