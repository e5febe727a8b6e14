"""E2E (seed 002 section 8 "Load test with expected traffic"): the profile's expected number of users
at once, each on its own connection, get the answers one user alone gets.

The traffic is what users and the load balancer do between uploads: poll a document's status and ask
``/health``. It only reads: no upload, no document, no OCR job, so the check is safe after a production
deploy. A user polls an id no document has, and a sound API looks it up and answers 404. Speed is
recorded in the evidence (p50, p95, slowest), not judged: a deploy is refused for wrong answers under
load, not for a noisy minute.
"""

from __future__ import annotations

import logging
import uuid

import pytest

from filot_gate import load

pytestmark = pytest.mark.e2e

log = logging.getLogger("filot_gate.e2e")

DEFAULT_USERS = 20
DEFAULT_REQUESTS_PER_USER = 6


def user_session(requests: int) -> list[load.Request]:
    """A user's requests: its document's status, and /health every other time."""
    status = load.Request("GET", f"/verification/status/{uuid.uuid4()}", frozenset({404}),
                          "GET /verification/status/<an id no document has>")
    health = load.Request("GET", "/health", frozenset({200}), "GET /health")
    return [status if n % 2 == 0 else health for n in range(requests)]


def test_api_serves_the_expected_number_of_users_at_once(api, target, settings, evidence):
    users = int(settings.profile.get("load.users", DEFAULT_USERS))
    requests = int(settings.profile.get("load.requests_per_user", DEFAULT_REQUESTS_PER_USER))
    api.get("/health")  # an API that cannot be reached at all is an error of the run, not a failed load
    log.info("load: %d users at once on %s, %d requests each", users, api.base_url, requests)
    traffic = load.run(users, user_session(requests), target.api)
    evidence.add("answers (request -> status -> count)", traffic.counts())
    evidence.add("latency in ms (not judged)", traffic.latency_ms())
    unexpected = traffic.unexpected()
    evidence.add("unexpected answers (first 10)", [answer.describe() for answer in unexpected[:10]])
    wrong = len(unexpected)
    assert wrong == 0, (
        f"{api.base_url} under the expected traffic ({users} users at once, profile [load] users; {requests}"
        f" requests each): expected every answer a single user gets (status 404, /health 200), got"
        f" {wrong} of {len(traffic.answers)} requests otherwise: {traffic.counts()};"
        f" first: {unexpected[0].describe()}"
    )
