"""Per-client fixed-window rate limits in Redis (shared by every API task): 429 with Retry-After.

Each sensitive route has its own scope (its own count per client): uploads, and the admin re-scoring
that starts a workflow or a re-scoring per call."""

from __future__ import annotations

import math
import time

from redis.asyncio import Redis
from redis.exceptions import RedisError

from filot_contract.redis_keys import RATE_LIMIT_PREFIX
from sandbox.api.errors import ApiError

WINDOW_S = 60
UPLOADS = "uploads"
EVALUATE = "evaluate"


class RateLimiter:
    def __init__(self, redis: Redis, per_minute: int, scope: str) -> None:
        self._redis = redis
        self._limit = per_minute
        self.scope = scope

    async def hit(self, client_id: str, now: float | None = None) -> None:
        """Count one request of ``client_id``; raise 429 once it is past the limit in this minute."""
        now = time.time() if now is None else now
        window = int(now // WINDOW_S)
        key = f"{RATE_LIMIT_PREFIX}{self.scope}:{client_id}:{window}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                count, _ = await pipe.incr(key).expire(key, WINDOW_S * 2).execute()
        except RedisError as error:
            raise ApiError(503, f"rate limiter (Redis) unavailable: {error}") from None
        if count > self._limit:
            retry_after = max(1, math.ceil((window + 1) * WINDOW_S - now))
            limit = f"{self._limit} {self.scope} requests per minute per client"
            raise ApiError(
                429, f"rate limit exceeded: {limit}; retry in {retry_after}s", {"Retry-After": str(retry_after)}
            )
