"""E2E (seed 002 section 6 "Test rate limiting on sensitive endpoints"): one client sending faster
than the limit gets 429 with a Retry-After header.

The requests carry a valid token but no file: FiLot counts them before it reads the body and refuses
each one (415) without storing anything, so the check creates no document. The burst is bounded by
twice the profile's limit plus one (a fixed window may restart once during the burst).
"""

from __future__ import annotations

from collections import Counter

import pytest

from filot_gate.tokens import sign_token

pytestmark = pytest.mark.e2e

DEFAULT_LIMIT_PER_MINUTE = 120


def test_rate_limit_answers_429_with_retry_after(api, jwt_secret, synthetic, settings, evidence):
    limit = int(settings.profile.get("e2e.rate_limit_per_minute", DEFAULT_LIMIT_PER_MINUTE))
    bound = 2 * limit + 1
    headers = {"Authorization": f"Bearer {sign_token(jwt_secret, synthetic.subject('rate-limit'))}"}
    before_limit: Counter[int] = Counter()
    limited = None
    for _ in range(bound):
        response = api.post("/documents", headers=headers)
        if response.status_code == 429:
            limited = response
            break
        before_limit[response.status_code] += 1
        if not 400 <= response.status_code < 500:
            break  # not the refusal the burst counts on (an API that is down answers 503): stop sending
    evidence.add("answers before the 429 (status -> count)", dict(before_limit))
    wrong = {status: n for status, n in before_limit.items() if status >= 500 or status < 400}
    assert not wrong, f"POST /documents without a file: expected only 4xx refusals before the 429, got {wrong}"
    assert limited is not None, (
        f"POST /documents: expected 429 within {bound} requests of one client (limit {limit}/minute, profile"
        f" [e2e] rate_limit_per_minute), got {dict(before_limit)}"
    )
    evidence.add("429 response", {"headers": dict(limited.headers), "body": limited.text})
    retry_after = limited.headers.get("Retry-After", "")
    assert retry_after.isdigit() and int(retry_after) > 0, (
        f"POST /documents 429: expected a Retry-After header with a positive number of seconds, got {retry_after!r}"
    )
