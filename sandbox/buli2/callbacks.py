"""Delivery of a review's decision to FiLot: signed as filot_contract.buli2 says, retried on failure.

2xx (or 409: the callback id was already accepted) ends it as delivered; another 4xx as refused
(a bad signature is not fixed by sending it again); a 5xx or a network error is retried with
exponential back-off up to ``BULI2_CALLBACK_MAX_ATTEMPTS``. Each attempt is signed afresh, so its
timestamp is current; the body (and its callback id) stays the same, so a retry of a delivery whose
answer was lost is a replay that FiLot recognises.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import httpx

from filot_contract import buli2
from filot_contract.messages import utc_now_iso
from sandbox.buli2.settings import Buli2Settings
from sandbox.buli2.state import Delivery, DeliveryState, Review, Store
from sandbox.jsonlog import fields

log = logging.getLogger(__name__)

REVIEWER = "buli2-simulator"
BACKOFF_S = 0.5
BACKOFF_MAX_S = 30.0
TIMEOUT = httpx.Timeout(10.0, connect=3.0)
#: Appended to the real secret when fault injection asks for bad signatures.
WRONG_SECRET_SUFFIX = "-not-the-shared-secret"


def outcome(status: int | None) -> DeliveryState:
    """What an answer means: retry (pending) on no answer or 5xx; 409 is an earlier success."""
    if status is None or status >= 500:
        return "pending"
    if status < 400 or status == 409:
        return "delivered"
    return "refused"


class CallbackSender:
    """Runs one delivery task per accepted review."""

    def __init__(self, client: httpx.AsyncClient, settings: Buli2Settings, store: Store) -> None:
        self._client = client
        self._settings = settings
        self._store = store

    async def deliver(self, review: Review) -> None:
        await asyncio.sleep(self._settings.callback_delay_ms / 1000)  # sleep-ok: the simulated reviewer's think time
        review.decision = self._store.decisions.get(review.documentId, self._settings.default_decision)
        review.decidedAt = utc_now_iso()
        body = json.dumps(
            {
                "callbackId": review.callbackId,
                "reviewId": review.reviewId,
                "reviewRequestId": review.reviewRequestId,
                "documentId": review.documentId,
                "decision": review.decision,
                "reviewer": REVIEWER,
                "decidedAt": review.decidedAt,
            }
        ).encode()
        attempts = self._settings.callback_max_attempts
        for attempt in range(1, attempts + 1):
            delivery = await self._attempt(review, body, attempt)
            review.deliveries.append(delivery)
            review.state = outcome(delivery.status)
            if review.state != "pending":
                log.info(
                    "callback " + review.state,
                    extra=fields(reviewId=review.reviewId, documentId=review.documentId, status=delivery.status, attempt=attempt),
                )
                return
            if attempt < attempts:
                delay = min(BACKOFF_S * 2 ** (attempt - 1), BACKOFF_MAX_S)
                log.warning(
                    "callback failed; retrying",
                    extra=fields(
                        reviewId=review.reviewId, attempt=attempt, status=delivery.status, error=delivery.error, retryInS=delay
                    ),
                )
                await asyncio.sleep(delay)  # sleep-ok: retry back-off between deliveries
        review.state = "gave_up"
        log.error(
            "callback given up",
            extra=fields(reviewId=review.reviewId, documentId=review.documentId, attempts=len(review.deliveries)),
        )

    async def _attempt(self, review: Review, body: bytes, attempt: int) -> Delivery:
        secret = self._settings.signature_secret.get_secret_value()
        if self._store.faults.badSignature:
            secret += WRONG_SECRET_SUFFIX
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            buli2.TIMESTAMP_HEADER: timestamp,
            buli2.SIGNATURE_HEADER: buli2.sign(secret, timestamp, body),
            buli2.CALLBACK_ID_HEADER: review.callbackId,
        }
        try:
            response = await self._client.post(review.callbackUrl, content=body, headers=headers, timeout=TIMEOUT)
        except httpx.TransportError as error:
            return Delivery(attempt=attempt, error=f"{type(error).__name__}: {error}")
        return Delivery(attempt=attempt, status=response.status_code, error=None if response.is_success else response.text[:500])
