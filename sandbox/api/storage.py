"""The document bucket through the S3 API (Cloudflare R2 in production, moto server in the sandbox).

boto3 is blocking, so every call runs in a worker thread; timeouts are short and retries few, so a
dead endpoint fails a request in seconds instead of hanging it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio.to_thread
import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sandbox.api.settings import ApiSettings

#: What a failed S3 call raises: the endpoint is unreachable (BotoCoreError) or refused (ClientError).
StorageError = (BotoCoreError, ClientError)


class ObjectStore:
    """Put, delete and probe objects in one bucket."""

    def __init__(self, settings: ApiSettings, timeout_s: float) -> None:
        self.bucket = settings.cf_r2_bucket_name
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.cf_r2_endpoint,
            aws_access_key_id=settings.cf_r2_access_key_id,
            aws_secret_access_key=settings.cf_r2_secret_access_key.get_secret_value(),
            region_name=settings.cf_r2_region,
            config=Config(
                connect_timeout=timeout_s,
                read_timeout=max(timeout_s, 10.0),
                retries={"max_attempts": 2, "mode": "standard"},
                s3={"addressing_style": "path"},
            ),
        )

    async def _call(self, method: str, **kwargs: Any) -> Any:
        return await anyio.to_thread.run_sync(partial(getattr(self._client, method), **kwargs))

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self._call("put_object", Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    async def delete(self, key: str) -> None:
        await self._call("delete_object", Bucket=self.bucket, Key=key)

    async def probe(self) -> None:
        """Raise a StorageError unless the bucket exists and the credentials may read it."""
        await self._call("head_bucket", Bucket=self.bucket)
