"""The API's configuration: environment variables only, read once at start into a typed object.

A bad or missing value is a ``ConfigError`` whose message is one line naming every offending variable
and why (``sandbox.envsettings.describe``: the value is quoted only for variables that are not secrets).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from filot_contract import buli2, temporal
from filot_contract.documents import AUTO_APPROVE_THRESHOLD, AUTO_REJECT_THRESHOLD
from filot_contract.schema import DEFAULT_POOL_SIZE
from filot_contract.secrets import secret_weakness
from sandbox.envsettings import check_port, describe, from_env

MIB = 1024 * 1024


class ConfigError(Exception):
    """The environment does not describe a runnable API; the message is one line naming each bad
    variable and why, safe to print (secret values are never echoed)."""


def _require_scheme(url: str, schemes: tuple[str, ...], what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"must be a {what} URL ({' or '.join(s + '://' for s in schemes)}host...)")
    check_port(parts)
    return url


@dataclass(frozen=True)
class CallbackPolicy:
    """How strictly callbacks are checked (``BULI2_VERIFY_SIGNATURES``, ``BULI2_CALLBACK_MAX_SKEW_S``,
    ``BULI2_CALLBACK_REPLAY_TTL_S``); the defaults are production's."""

    verify_signatures: bool = True
    max_skew_s: int = buli2.MAX_SKEW_S
    #: how long an accepted callback id is remembered (far beyond the skew window); 0: not at all
    replay_ttl_s: int = 24 * 3600


class ApiSettings(BaseSettings):
    """Every knob of the FiLot API. Field ``foo_bar`` is read from env var ``FOO_BAR`` (its alias)."""

    model_config = SettingsConfigDict(alias_generator=str.upper, extra="ignore", frozen=True)

    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=1, le=65535)
    node_env: Literal["production", "development", "test"] = "production"

    database_url: SecretStr
    jwt_secret: SecretStr
    session_secret: SecretStr = Field(min_length=1)
    service_internal_key: SecretStr = Field(min_length=1)

    redis_url: SecretStr
    redis_password: SecretStr | None = None
    redis_tls_ca_file: Path | None = None

    cf_r2_endpoint: str
    cf_r2_access_key_id: str = Field(min_length=1)
    cf_r2_secret_access_key: SecretStr = Field(min_length=1)
    cf_r2_bucket_name: str = Field(min_length=3, max_length=63)
    cf_r2_region: str = "auto"

    buli2_api_url: str
    buli2_api_key: SecretStr = Field(min_length=1)
    buli2_signature_secret: SecretStr = Field(min_length=16)
    buli2_callback_url: str
    #: First retry delay of an escalation BULI2 did not accept; doubles per attempt up to the max.
    buli2_retry_base_s: float = Field(default=2.0, gt=0)
    buli2_retry_max_s: float = Field(default=300.0, gt=0)
    #: The three checks of a BULI2 callback (callbacks.py). Only NODE_ENV=development may relax them (a
    #: FiLot facing an unsigning BULI2 test double); the start-up log then says so.
    buli2_verify_signatures: bool = True
    buli2_callback_max_skew_s: int = Field(default=buli2.MAX_SKEW_S, ge=1)
    #: How long an accepted callback id is remembered; 0 remembers none (replays are not refused).
    buli2_callback_replay_ttl_s: int = Field(default=CallbackPolicy.replay_ttl_s, ge=0)

    ai_score_threshold_auto_approve: float = Field(default=AUTO_APPROVE_THRESHOLD, ge=0, le=100)
    ai_score_threshold_auto_reject: float = Field(default=AUTO_REJECT_THRESHOLD, ge=0, le=100)

    cors_allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    rate_limit_per_minute: int = Field(default=120, ge=1)
    max_upload_bytes: int = Field(default=10 * MIB, ge=1024)
    max_image_pixels: int = Field(default=40_000_000, ge=1024)

    #: Seed 002 ``METRICS_ENABLED``: false takes ``GET /metrics`` away (404).
    metrics_enabled: bool = True

    #: Deadline of each dependency probe of /health.
    probe_timeout_s: float = Field(default=2.0, gt=0, le=30)
    db_pool_max: int = Field(default=DEFAULT_POOL_SIZE, ge=1, le=100)
    #: How often the results consumer re-reads the durable result store (missed pub/sub messages).
    results_sweep_interval_s: float = Field(default=15.0, gt=0)
    #: How long a document may stay queued with its job nowhere in Redis before its job is pushed again
    #: (a task that died between committing the row and pushing the job); looked for every sweep interval.
    requeue_after_s: float = Field(default=120.0, gt=0)

    #: Temporal (seed 002 section 4): "false" starts a workflow per evaluation and runs their worker here.
    temporal_disabled: bool = True
    temporal_endpoint: str | None = None
    temporal_namespace: str | None = None
    temporal_api_key: SecretStr | None = None
    #: Unset: TLS when an API key is given (Temporal Cloud); the sandbox's dev server speaks plaintext.
    temporal_tls: bool | None = None
    temporal_task_queue: str = Field(default=temporal.TASK_QUEUE, min_length=1)

    #: Set by the (sandbox) ECS agent; logged in the start-up line so the gate can match the deployment.
    filot_task_definition_arn: str | None = None
    filot_image: str | None = None

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr) -> SecretStr:
        _require_scheme(value.get_secret_value(), ("postgresql", "postgres"), "PostgreSQL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr) -> SecretStr:
        _require_scheme(value.get_secret_value(), ("rediss", "redis"), "Redis")
        return value

    @field_validator("cf_r2_endpoint", "buli2_api_url", "buli2_callback_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _require_scheme(value, ("http", "https"), "HTTP(S)").rstrip("/")

    @field_validator("redis_tls_ca_file")
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"names {value}, which is not a readable file")
        return value

    @field_validator("cors_allowed_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ApiSettings:
        if self.ai_score_threshold_auto_reject >= self.ai_score_threshold_auto_approve:
            raise ValueError(
                "AI_SCORE_THRESHOLD_AUTO_REJECT must be below AI_SCORE_THRESHOLD_AUTO_APPROVE "
                f"(got {self.ai_score_threshold_auto_reject:g} >= {self.ai_score_threshold_auto_approve:g})"
            )
        if self.node_env != "development" and (relaxed := self.relaxed_checks()):
            raise ValueError(f"{'; '.join(relaxed)}; refusing to start (only NODE_ENV=development relaxes these)")
        if self.node_env == "production" and not self.redis_url.get_secret_value().startswith("rediss://"):
            raise ValueError("REDIS_URL must use TLS (rediss://) when NODE_ENV=production")
        if not self.temporal_disabled and not (self.temporal_endpoint and self.temporal_namespace):
            raise ValueError("TEMPORAL_DISABLED=false needs TEMPORAL_ENDPOINT and TEMPORAL_NAMESPACE"
                             " (secret filot/production/temporal)")
        if self.buli2_retry_base_s > self.buli2_retry_max_s:
            raise ValueError("BULI2_RETRY_BASE_S must not exceed BULI2_RETRY_MAX_S")
        return self

    def relaxed_checks(self) -> list[str]:
        """The security checks this configuration relaxes, one sentence each (never a secret's value)."""
        relaxed = []
        if weakness := secret_weakness(self.jwt_secret.get_secret_value()):
            relaxed.append(f"JWT_SECRET: {weakness}")
        if not self.buli2_verify_signatures:
            relaxed.append("BULI2_VERIFY_SIGNATURES=false: callback signatures are not verified")
        if self.buli2_callback_max_skew_s > buli2.MAX_SKEW_S:
            relaxed.append(f"BULI2_CALLBACK_MAX_SKEW_S={self.buli2_callback_max_skew_s}: callbacks that old are accepted"
                           f" (the contract allows {buli2.MAX_SKEW_S}s)")
        if self.buli2_callback_replay_ttl_s == 0:
            relaxed.append("BULI2_CALLBACK_REPLAY_TTL_S=0: replayed callbacks are not refused")
        return relaxed

    def callback_policy(self) -> CallbackPolicy:
        return CallbackPolicy(verify_signatures=self.buli2_verify_signatures, max_skew_s=self.buli2_callback_max_skew_s,
                              replay_ttl_s=self.buli2_callback_replay_ttl_s)


#: Variables whose values never appear in a message or a log line (every SecretStr field).
SECRET_NAMES = frozenset(
    name.upper() for name, info in ApiSettings.model_fields.items() if info.annotation in (SecretStr, SecretStr | None)
)


def load_settings(environ: Mapping[str, str] | None = None) -> ApiSettings:
    """Read the settings from ``environ`` (default: the process environment) or raise ConfigError."""
    try:
        return from_env(ApiSettings, os.environ if environ is None else environ)
    except ValidationError as error:
        raise ConfigError(describe(error, SECRET_NAMES)) from None
