"""The simulator's configuration, from environment variables only."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr

from sandbox.envsettings import http_url

Decision = Literal["approved", "rejected"]
SECRET_NAMES = frozenset({"BULI2_API_KEY", "BULI2_SIGNATURE_SECRET"})


class Buli2Settings(BaseModel):
    """Validated from ``os.environ`` by ``sandbox.envsettings.load_or_exit`` (field aliases = variables)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    host: str = Field("127.0.0.1", validation_alias="HOST")
    port: int = Field(8090, ge=0, le=65_535, validation_alias="PORT")
    api_key: SecretStr = Field(min_length=1, validation_alias="BULI2_API_KEY")
    signature_secret: SecretStr = Field(min_length=1, validation_alias="BULI2_SIGNATURE_SECRET")
    #: Where callbacks go when an escalation names no ``callbackUrl``.
    callback_url: Annotated[str, AfterValidator(http_url)] | None = Field(None, validation_alias="FILOT_CALLBACK_URL")
    #: The simulated reviewer's think time between an escalation and its callback.
    callback_delay_ms: int = Field(500, ge=0, le=3_600_000, validation_alias="BULI2_CALLBACK_DELAY_MS")
    default_decision: Decision = Field("approved", validation_alias="BULI2_DEFAULT_DECISION")
    #: Deliveries of one callback before the simulator gives up on it (5xx and network errors retry).
    callback_max_attempts: int = Field(6, ge=1, le=50, validation_alias="BULI2_CALLBACK_MAX_ATTEMPTS")
