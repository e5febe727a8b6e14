"""The EPR containers' configuration: the variables of seed 004's "Environment Variables", typed once.

Both containers read the same image's settings; a missing or bad variable is refused at start-up in
one line (``sandbox.envsettings``), which is how seed 004's worker "will start but immediately fail"
when ``EPR_AUDIT_SQS_URL`` is empty.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from sandbox.envsettings import http_url

#: Variables whose values never appear in a message or a log line.
SECRET_NAMES = frozenset({"EPR_DATABASE_URL", "EPR_REDIS_TOKEN"})


def _postgres_url(value: SecretStr) -> SecretStr:
    scheme = urlsplit(value.get_secret_value()).scheme
    if scheme not in ("postgresql", "postgres"):
        raise ValueError(f"expected a postgresql:// URL, got scheme {scheme!r}")
    return value


def _https_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("expected an https:// URL with a host")
    return value


class _Common(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    environment: str = Field("production", validation_alias="EPR_ENVIRONMENT")
    log_level: str = Field("INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$", validation_alias="EPR_LOG_LEVEL")
    database_url: Annotated[SecretStr, AfterValidator(_postgres_url)] = Field(validation_alias="EPR_DATABASE_URL")


class ApiSettings(_Common):
    """The API container (essential): serves ``/healthz`` on ``HOST:PORT``."""

    host: str = Field("0.0.0.0", validation_alias="HOST")
    port: int = Field(8080, ge=1, le=65535, validation_alias="PORT")
    redis_url: Annotated[str, AfterValidator(_https_url)] = Field(validation_alias="EPR_REDIS_URL")
    redis_token: SecretStr = Field(min_length=16, validation_alias="EPR_REDIS_TOKEN")
    #: The CA that signs ``EPR_REDIS_URL``'s certificate when it is not a public one (the sandbox's own).
    redis_ca_file: str | None = Field(None, validation_alias="REDIS_TLS_CA_FILE")
    document_topic_arn: str = Field(pattern=r"^arn:aws:sns:", validation_alias="EPR_DOCUMENT_VAULT_TOPIC_ARN")
    #: Seconds the database may take to answer the health check's ``SELECT 1``.
    probe_timeout_s: float = Field(2.0, gt=0, le=30, validation_alias="EPR_HEALTH_PROBE_TIMEOUT_S")


class AuditWorkerSettings(_Common):
    """The audit worker container (not essential): long-polls ``EPR_AUDIT_SQS_URL``."""

    queue_url: Annotated[str, AfterValidator(_https_url)] = Field(validation_alias="EPR_AUDIT_SQS_URL")
    max_messages: int = Field(5, ge=1, le=10, validation_alias="EPR_AUDIT_SQS_MAX_MESSAGES")
    wait_time_s: int = Field(20, ge=0, le=20, validation_alias="EPR_AUDIT_SQS_WAIT_TIME")
    visibility_timeout_s: int = Field(60, ge=0, le=43200, validation_alias="EPR_AUDIT_SQS_VISIBILITY_TIMEOUT")
    #: The AWS endpoint (the sandbox's moto): required, so that a worker started by hand never reaches AWS itself.
    aws_endpoint_url: Annotated[str, AfterValidator(http_url)] = Field(validation_alias="AWS_ENDPOINT_URL")
