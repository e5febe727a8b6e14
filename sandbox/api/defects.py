"""Bugs a release of the API can ship with, for the gate's checks to catch: the sandbox's stand-in for
deploying a wrong build. An image carries one in its ENV (``FILOT_SANDBOX_DEFECT``, baked in by the
``backend-release-...`` faults of ``python -m sandbox fault``); no task definition names it, so every
configuration check still passes, as it would for a build with a bug. Without it the API is unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

from filot_contract import buli2
from sandbox.api.settings import CallbackPolicy
from sandbox.images import defect_of_this_build

#: The build whose queue-length metric has another name (``sandbox.metrics_bridge.RENAMED_QUEUE_LENGTH``).
QUEUE_METRIC_RENAMED = "queue-metric-renamed"
#: Connections (the new one included) at which a task of the ``connection-cap`` build answers 503.
CONNECTION_CAP = 4

ServerOptions = dict[str, Any]


@dataclass(frozen=True)
class Build:
    """What the image's ENV made of this process: its defect (None: a sound build) and the options its
    HTTP server runs with (uvicorn's keyword arguments) that differ from a sound build's."""

    defect: str | None = None
    server_options: ServerOptions = field(default_factory=dict)


def _no_input_validation() -> ServerOptions:
    """The verification routes take any document id as it comes: the database, not the API, refuses a
    malformed one, and the client gets a 5xx instead of a 422."""
    from sandbox.api.routes import verification

    verification._document_id = lambda value: value  # type: ignore[assignment]
    return {}


def _connection_cap() -> ServerOptions:
    """The server answers 503 to every request that arrives while it holds CONNECTION_CAP connections,
    the request's own included (a debugging leftover, like Node's ``server.maxConnections`` or uvicorn's
    ``--limit-concurrency``). One client at a time never notices; the expected number of users does."""
    return {"limit_concurrency": CONNECTION_CAP}


def _callback_signature_optional() -> ServerOptions:
    """The callback route checks the signature only when there is one (``if (sig) verify(sig)``): a
    callback without ``X-BULI2-Signature`` is taken as BULI2's, from anyone who can reach the route."""
    from sandbox.api import callbacks

    checked = callbacks.verify

    def verify(secret: str, headers: Mapping[str, str], raw: bytes, now: float | None = None,
               policy: CallbackPolicy = CallbackPolicy()) -> callbacks.ReviewCallback:
        signature = buli2.SIGNATURE_HEADER.lower()
        if headers.get(signature) is None:
            headers = {**{name.lower(): value for name, value in headers.items()}, signature: "unchecked"}
            policy = dataclasses.replace(policy, verify_signatures=False)
        return checked(secret, headers, raw, now, policy)

    callbacks.verify = verify  # type: ignore[assignment]
    return {}


def _callback_validation_unhandled() -> ServerOptions:
    """The callback route lets a body that does not validate escape as an exception (Zod's ``parse``
    without its ``catch``): a signed but malformed callback gets a 500 instead of a 400."""
    from pydantic import ValidationError

    from sandbox.api import callbacks

    checked = callbacks.ReviewCallback

    class Unhandled(checked):  # type: ignore[valid-type, misc]
        @classmethod
        def model_validate_json(cls, raw: Any, **options: Any) -> Any:
            try:
                return checked.model_validate_json(raw, **options)
            except ValidationError as error:
                raise RuntimeError(f"callback body: {error.error_count()} validation errors") from None

    callbacks.ReviewCallback = Unhandled  # type: ignore[misc]
    return {}


def _evaluate_not_rate_limited() -> ServerOptions:
    """The admin re-scoring route ships without the rate limit the upload route has: one admin token
    can start workflows or re-scorings as fast as it can send."""
    from sandbox.api.ratelimit import EVALUATE, RateLimiter

    limited = RateLimiter.hit

    async def hit(self: RateLimiter, client_id: str, now: float | None = None) -> None:
        if self.scope != EVALUATE:
            await limited(self, client_id, now)

    RateLimiter.hit = hit  # type: ignore[method-assign]
    return {}


def _score_stored_as_fraction() -> ServerOptions:
    """The build records the score as a 0-1 fraction (a unit slip in a refactor) while it still decides on
    the 0-100 score: every decision is right, every stored score reads a hundred times too low."""
    from sandbox.api.scoring import Judge, Verdict

    judged = Judge.judge

    def judge(self: Judge, *args: Any) -> Verdict:
        verdict = judged(self, *args)
        return dataclasses.replace(verdict, score=round(verdict.score / 100, 2))

    Judge.judge = judge  # type: ignore[method-assign]
    return {}


def _queue_metric_renamed() -> ServerOptions:
    """The build publishes the queue length to CloudWatch as ``OcrQueueLength`` (a refactor's rename); the
    alarms still watch ``QueueLength``, which stops arriving. Nothing changes in the API process: the
    sandbox's metric publisher (``sandbox.metrics_bridge``) publishes as the running backend builds do."""
    return {}


DEFECTS: dict[str, Callable[[], ServerOptions]] = {
    "no-input-validation": _no_input_validation,
    "connection-cap": _connection_cap,
    QUEUE_METRIC_RENAMED: _queue_metric_renamed,
    "callback-signature-optional": _callback_signature_optional,
    "callback-validation-unhandled": _callback_validation_unhandled,
    "evaluate-not-rate-limited": _evaluate_not_rate_limited,
    "score-stored-as-fraction": _score_stored_as_fraction,
}


def apply_from_environment() -> Build:
    """Build the defect the image names into this process."""
    name = defect_of_this_build(DEFECTS)
    return Build(name, DEFECTS[name]()) if name else Build()
