"""The API's Redis client: ``REDIS_URL`` (rediss:// in production), ``REDIS_PASSWORD``, ``REDIS_TLS_CA_FILE``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from sandbox.api.settings import ApiSettings


def make_redis(settings: ApiSettings) -> Redis:
    """A client with short timeouts; the password comes from the URL or else REDIS_PASSWORD.

    A pooled connection that Redis closed (a restart, a failover) fails on its next use: such a command
    is retried on a new connection. Timeouts are not retried: the command may have run. (A connection
    lost between sending an enqueue and reading its reply could enqueue a job twice; the API applies one
    result per document, see verdicts.py.)
    """
    url = settings.redis_url.get_secret_value()
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": settings.probe_timeout_s,
        "socket_timeout": max(5.0, settings.probe_timeout_s),
        "health_check_interval": 30,
        "retry": Retry(ExponentialBackoff(cap=1.0, base=0.1), 3, supported_errors=(RedisConnectionError,)),
    }
    if settings.redis_password is not None and not urlsplit(url).password:
        options["password"] = settings.redis_password.get_secret_value()
    if url.startswith("rediss://") and settings.redis_tls_ca_file is not None:
        options["ssl_ca_certs"] = str(settings.redis_tls_ca_file)
    return Redis.from_url(url, **options)
