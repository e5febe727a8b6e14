"""Clients of the worker's backing services: Redis (TLS in production) and S3-compatible storage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import redis

from sandbox.worker.settings import WorkerSettings

if TYPE_CHECKING:
    from botocore.client import BaseClient

CONNECT_TIMEOUT_S = 5.0
#: Socket timeout of commands that do not block; blocking ones (BLMOVE) add their own timeout to it.
COMMAND_TIMEOUT_S = 5.0
S3_READ_TIMEOUT_S = 30.0


def redis_client(settings: WorkerSettings, blocking_s: float = 0.0) -> redis.Redis:
    """A client whose socket timeout covers a blocking command of ``blocking_s`` seconds."""
    url = settings.redis_url.get_secret_value()
    options: dict[str, Any] = {
        "socket_timeout": COMMAND_TIMEOUT_S + blocking_s,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
    }
    if settings.redis_password is not None and not urlsplit(url).password:
        options["password"] = settings.redis_password.get_secret_value()
    if settings.redis_ca_file is not None:
        options["ssl_ca_certs"] = str(settings.redis_ca_file)
    return redis.Redis.from_url(url, **options)


def s3_client(settings: WorkerSettings) -> BaseClient:
    """boto3 S3 client for R2 (``CF_R2_ENDPOINT``), moto, or AWS itself when no endpoint is set."""
    import boto3
    from botocore.config import Config

    secret = settings.s3_secret_access_key.get_secret_value() if settings.s3_secret_access_key else None
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=secret,
        config=Config(
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=S3_READ_TIMEOUT_S,
            retries={"max_attempts": 2, "mode": "standard"},
            s3={"addressing_style": "path"},
        ),
    )
