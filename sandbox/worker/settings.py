"""The worker's configuration: exactly the environment of seed 001's task definition, typed once."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, SecretStr, model_validator

from filot_contract import redis_keys
from sandbox.envsettings import check_port

#: Engines ``sandbox.ocr`` provides; a ``module:attr`` spec names a recognizer factory instead (tests).
ENGINES = ("tesseract", "rapidocr", "cuda")
#: Variables whose values never appear in a message or a log line.
SECRET_NAMES = frozenset({"REDIS_URL", "REDIS_PASSWORD", "CF_R2_SECRET_ACCESS_KEY"})


def _engine_spec(value: str) -> str:
    module, colon, attr = value.partition(":")
    if value in ENGINES or (colon and module and attr):
        return value
    raise ValueError(f"expected one of {', '.join(ENGINES)} or a 'module:factory' spec")


def _redis_url(value: SecretStr) -> SecretStr:
    parts = urlsplit(value.get_secret_value())
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(f"expected a redis:// or rediss:// URL, got scheme {parts.scheme!r}")
    check_port(parts)
    return value


def _existing_file(value: Path) -> Path:
    if not value.is_file():
        raise ValueError(f"expected a readable CA bundle file, no file at {value}")
    return value


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class WorkerSettings(BaseModel):
    """Validated from ``os.environ`` by ``sandbox.envsettings.load_or_exit`` (field aliases = variables)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    gpu_enabled: bool = Field(True, validation_alias="OCR_GPU_ENABLED")
    concurrency: int = Field(2, ge=1, le=64, validation_alias="OCR_GPU_CONCURRENCY")
    autofallback: bool = Field(True, validation_alias="OCR_GPU_AUTOFALLBACK")
    max_retries: int = Field(3, ge=1, le=100, validation_alias="OCR_GPU_MAX_RETRIES")
    poll_interval_ms: int = Field(
        1000, ge=10, le=60_000, validation_alias=AliasChoices("OCR_GPU_POLL_INTERVAL", "OCR_GPU_POLL_INTERVAL_MS")
    )
    queue_key: str = Field(redis_keys.OCR_QUEUE, min_length=1, validation_alias="OCR_GPU_QUEUE_KEY")
    processing_key: str = Field(redis_keys.OCR_PROCESSING, min_length=1, validation_alias="OCR_GPU_PROCESSING_KEY")
    attempts_key: str = Field(redis_keys.OCR_ATTEMPTS, min_length=1, validation_alias="OCR_GPU_ATTEMPTS_KEY")
    # Seed 001 calls it OCR_GPU_PUBLISH_CHANNEL; issue 4 OCR_GPU_RESULTS_CHANNEL: both are read.
    publish_channel: str = Field(
        redis_keys.OCR_RESULTS_CHANNEL,
        min_length=1,
        validation_alias=AliasChoices("OCR_GPU_PUBLISH_CHANNEL", "OCR_GPU_RESULTS_CHANNEL"),
    )
    visibility_timeout_s: float = Field(60.0, ge=1, le=86_400, validation_alias="OCR_GPU_VISIBILITY_TIMEOUT_S")

    redis_url: Annotated[SecretStr, AfterValidator(_redis_url)] = Field(validation_alias="REDIS_URL")
    redis_password: SecretStr | None = Field(None, validation_alias="REDIS_PASSWORD")
    redis_ca_file: Annotated[Path, AfterValidator(_existing_file)] | None = Field(None, validation_alias="REDIS_TLS_CA_FILE")

    s3_endpoint: str | None = Field(None, validation_alias="CF_R2_ENDPOINT")
    s3_access_key_id: str | None = Field(None, validation_alias="CF_R2_ACCESS_KEY_ID")
    s3_secret_access_key: SecretStr | None = Field(None, validation_alias="CF_R2_SECRET_ACCESS_KEY")
    s3_bucket: str | None = Field(None, validation_alias="CF_R2_BUCKET_NAME")

    engine: Annotated[str, AfterValidator(_engine_spec)] = Field("tesseract", validation_alias="OCR_ENGINE")
    host: str = Field("0.0.0.0", validation_alias="HOST")
    health_port: int = Field(8080, ge=0, le=65_535, validation_alias="WORKER_HEALTH_PORT")
    worker_id: str = Field(default_factory=_default_worker_id, min_length=1, validation_alias="WORKER_ID")
    task_definition_arn: str | None = Field(None, validation_alias="FILOT_TASK_DEFINITION_ARN")
    image: str | None = Field(None, validation_alias="FILOT_IMAGE")

    @model_validator(mode="after")
    def _coherent(self) -> WorkerSettings:
        if self.redis_ca_file is not None and not self.redis_uses_tls:
            raise ValueError("REDIS_TLS_CA_FILE is set but REDIS_URL is not rediss:// (TLS)")
        if self.engine == "cuda" and not self.gpu_enabled:
            raise ValueError("OCR_ENGINE=cuda needs OCR_GPU_ENABLED=true")
        return self

    @property
    def redis_uses_tls(self) -> bool:
        return urlsplit(self.redis_url.get_secret_value()).scheme == "rediss"

    @property
    def poll_interval_s(self) -> float:
        return self.poll_interval_ms / 1000

    @property
    def redis_url_redacted(self) -> str:
        """The Redis URL without its password, for logs."""
        parts = urlsplit(self.redis_url.get_secret_value())
        netloc = parts.hostname or ""
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        if parts.password or parts.username:
            netloc = f"***@{netloc}"
        return parts._replace(netloc=netloc).geturl()
