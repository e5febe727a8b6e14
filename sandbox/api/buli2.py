"""The HTTP client of BULI2, the manual-review service: submit an escalation, probe reachability.

``POST {BULI2_API_URL}/reviews`` with ``Authorization: Bearer BULI2_API_KEY`` and the body
``{"reviewRequestId", "documentId", "callbackUrl", "fields", "score", "reasons"}``; BULI2 answers
201 or 202 ``{"reviewId"}``. ``reviewRequestId`` is also sent as ``Idempotency-Key`` so that BULI2
can recognise a retry of a request whose answer we lost.
"""

from __future__ import annotations

from typing import Any

import httpx

from sandbox.api.settings import ApiSettings

ACCEPTED = (200, 201, 202)


class EscalationFailed(Exception):
    """BULI2 did not accept an escalation; ``retryable`` is False for a 4xx (our request is wrong)."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Buli2Client:
    def __init__(self, settings: ApiSettings) -> None:
        self.callback_url = settings.buli2_callback_url
        self._http = httpx.AsyncClient(
            base_url=settings.buli2_api_url,
            headers={"Authorization": f"Bearer {settings.buli2_api_key.get_secret_value()}"},
            timeout=httpx.Timeout(10.0, connect=settings.probe_timeout_s),
            follow_redirects=False,
        )
        self._probe_timeout = httpx.Timeout(settings.probe_timeout_s)

    async def submit(self, escalation: dict[str, Any]) -> str:
        """Deliver one escalation; return BULI2's reviewId or raise EscalationFailed saying why."""
        try:
            response = await self._http.post(
                "/reviews", json=escalation, headers={"Idempotency-Key": escalation["reviewRequestId"]}
            )
        except httpx.TransportError as error:
            raise EscalationFailed(f"BULI2 unreachable: {type(error).__name__}: {error}") from None
        if response.status_code not in ACCEPTED:
            raise EscalationFailed(
                f"BULI2 answered {response.status_code}: {response.text[:300]}",
                retryable=response.status_code >= 500 or response.status_code in (408, 429),
            )
        try:
            review_id = response.json()["reviewId"]
        except (ValueError, KeyError, TypeError):
            review_id = None
        if not isinstance(review_id, str) or not review_id:
            raise EscalationFailed(f"BULI2 answered {response.status_code} without a reviewId: {response.text[:300]}")
        return review_id

    async def reachable(self) -> bool:
        """True when BULI2 answers HTTP below 500 (even 404: it is there and serving)."""
        try:
            response = await self._http.get("/health", timeout=self._probe_timeout)
        except httpx.TransportError:
            return False
        return response.status_code < 500

    async def aclose(self) -> None:
        await self._http.aclose()
