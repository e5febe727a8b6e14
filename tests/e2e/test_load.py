"""E2E (seed 002 section 8 "Load test with expected traffic"): the profile's expected number of users
at once, each on its own connection, get the answers one user alone gets.

The traffic (``filot_gate.load.read_only_session``) only reads: status polls and ``/health``, safe after
a production deploy. Speed is recorded in the evidence (p50, p95, slowest), not judged: a deploy is
refused for wrong answers under load, not for a noisy minute (``python -m benchmarks.api_load`` measures it).
"""

from __future__ import annotations

import logging

import pytest

from filot_gate import load

pytestmark = pytest.mark.e2e

log = logging.getLogger("filot_gate.e2e")

DEFAULT_USERS = 20
DEFAULT_REQUESTS_PER_USER = 6


def test_api_serves_the_expected_number_of_users_at_once(api, target, settings, evidence):
    users = int(settings.profile.get("load.users", DEFAULT_USERS))
    requests = int(settings.profile.get("load.requests_per_user", DEFAULT_REQUESTS_PER_USER))
    api.get("/health")  # an API that cannot be reached at all is an error of the run, not a failed load
    session = load.read_only_session(requests)
    alone = load.run(1, session, target.api).unexpected()
    wrong_alone = len(alone)
    assert wrong_alone == 0, (
        f"{api.base_url}: a single user already gets {alone[0].describe()}; the API is wrong without any load"
        f" (see the health check), so the load of {users} users was not sent"
    )
    log.info("load: %d users at once on %s, %d requests each", users, api.base_url, requests)
    traffic = load.run(users, session, target.api)
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
