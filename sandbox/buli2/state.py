"""What the simulator has received and done, in memory: reviews, callback deliveries, faults.

Everything is read back through ``GET /admin/reviews`` so that tests and the gate can check, for
example, that an escalation refused while BULI2 was "down" was sent again, once, afterwards.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field

from filot_contract.messages import utc_now_iso
from sandbox.buli2.settings import Decision

Mode = Literal["normal", "down", "error5xx", "slow"]
#: pending: not sent yet or being retried; delivered: 2xx (or 409, already accepted);
#: refused: the receiver answered another 4xx (not retried); gave_up: attempts exhausted.
DeliveryState = Literal["pending", "delivered", "refused", "gave_up"]


class Faults(BaseModel):
    """Fault injection (``POST /admin/mode``).

    * ``down``: ``POST /reviews`` and ``GET /health`` answer 503 (the service is unavailable);
    * ``error5xx``: ``POST /reviews`` answers 500 (the service is broken);
    * ``slow``: ``POST /reviews`` answers after ``delayMs`` (to exercise the caller's timeout);
    * ``badSignature``: callbacks are signed with a wrong secret (FiLot must answer 401).
    Callbacks of accepted reviews are delivered in every mode.
    """

    mode: Mode = "normal"
    delayMs: int = Field(0, ge=0, le=600_000)
    badSignature: bool = False


class Delivery(BaseModel):
    attempt: int
    at: str = Field(default_factory=utc_now_iso)
    status: int | None = None  # HTTP status; None when there was no response
    error: str | None = None


class Review(BaseModel):
    reviewId: str = Field(default_factory=lambda: f"rev_{uuid.uuid4().hex}")
    callbackId: str = Field(default_factory=lambda: f"cb_{uuid.uuid4().hex}")
    reviewRequestId: str
    documentId: str
    callbackUrl: str
    receivedAt: str = Field(default_factory=utc_now_iso)
    request: dict[str, object]
    decision: Decision | None = None
    decidedAt: str | None = None
    state: DeliveryState = "pending"
    deliveries: list[Delivery] = Field(default_factory=list)


class RefusedEscalation(BaseModel):
    """An escalation answered with a fault (503/500) instead of being accepted."""

    at: str = Field(default_factory=utc_now_iso)
    reviewRequestId: str | None
    status: int
    mode: Mode


class Store(BaseModel):
    reviews: dict[str, Review] = Field(default_factory=dict)  # by reviewRequestId
    decisions: dict[str, Decision] = Field(default_factory=dict)  # scripted, by documentId
    refused: list[RefusedEscalation] = Field(default_factory=list)
    faults: Faults = Field(default_factory=Faults)
