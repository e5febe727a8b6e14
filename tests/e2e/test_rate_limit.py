"""E2E (seed 002 section 6 "Test rate limiting on sensitive endpoints"): one client sending faster
than the limit gets 429 with a Retry-After header, on each sensitive route: uploads, and the admin
re-scoring that starts a workflow or a re-scoring per call.

Every request of a burst is one FiLot refuses cheaply, without touching a document: an upload without
a file (415; FiLot counts it before it reads the body), a re-scoring of a document id that is not a UUID
(422). Each burst is a client of its own (a synthetic subject), so no other check shares its count. A
burst is bounded by twice the profile's limit plus one (a fixed window may restart once during it).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

from filot_gate.tokens import sign_token

pytestmark = pytest.mark.e2e

DEFAULT_LIMIT_PER_MINUTE = 120


@dataclass(frozen=True)
class Burst:
    """The request one client repeats until it is limited."""

    method: str
    path: str
    role: str
    options: dict[str, Any] = field(default_factory=dict)  # httpx's json=


BURSTS = {
    "uploads": Burst("POST", "/documents", "user"),
    "evaluate": Burst("POST", "/verification/evaluate", "admin", {"json": {"documentId": "not-a-uuid"}}),
}


@pytest.mark.parametrize("route", list(BURSTS))
def test_rate_limit_answers_429_with_retry_after(api, jwt_secret, synthetic, settings, evidence, route):
    burst = BURSTS[route]
    where = f"{burst.method} {burst.path}"
    limit = int(settings.profile.get("e2e.rate_limit_per_minute", DEFAULT_LIMIT_PER_MINUTE))
    bound = 2 * limit + 1
    token = sign_token(jwt_secret, synthetic.subject(f"rate-limit-{route}"), role=burst.role)
    headers = {"Authorization": f"Bearer {token}"}
    before_limit: Counter[int] = Counter()
    limited = None
    for _ in range(bound):
        response = api.request(burst.method, burst.path, headers=headers, **burst.options)
        if response.status_code == 429:
            limited = response
            break
        before_limit[response.status_code] += 1
        if not 400 <= response.status_code < 500:
            break  # not the refusal the burst counts on (an API that is down answers 503): stop sending
    evidence.add(f"{where}: answers before the 429 (status -> count)", dict(before_limit))
    wrong = {status: n for status, n in before_limit.items() if status >= 500 or status < 400}
    assert not wrong, f"{where} (a request FiLot refuses): expected only 4xx refusals before the 429, got {wrong}"
    assert limited is not None, (
        f"{where}: expected 429 within {bound} requests of one client (limit {limit}/minute, profile"
        f" [e2e] rate_limit_per_minute), got {dict(before_limit)}"
    )
    evidence.add("429 response", {"headers": dict(limited.headers), "body": limited.text})
    retry_after = limited.headers.get("Retry-After", "")
    assert retry_after.isdigit() and int(retry_after) > 0, (
        f"{where} 429: expected a Retry-After header with a positive number of seconds, got {retry_after!r}"
    )
