"""E2E (seed 002 section 6 "Verify HMAC signature validation for BULI2 callbacks"): FiLot's
``/internal/reviews`` refuses a callback that BULI2 did not sign (401: signed with another secret, or
not signed at all) and one that is too old (400).

Both are sent for a document id that does not exist, so a FiLot that wrongly accepted them would
still change nothing (it would answer 404 and the check fails on that status).
"""

from __future__ import annotations

import secrets
import time

import pytest

from filot_contract import buli2
from filot_gate.review_callback import decision_on_no_document, sign

pytestmark = pytest.mark.e2e


def tracked_decision(run_id: str, synthetic) -> tuple[str, bytes]:
    """A decision on no document, not yet signed; its callback id is removed with the run's synthetic data."""
    callback_id, body = decision_on_no_document(run_id)
    synthetic.add_callback(callback_id)
    return callback_id, body


def test_callback_with_a_forged_signature_is_refused_with_401(api, callback_url, run_id, synthetic, evidence):
    callback_id, body = tracked_decision(run_id, synthetic)
    forged = sign(secrets.token_hex(32), callback_id, body)
    response = api.post(callback_url, content=forged.body, headers=forged.headers)
    evidence.add(f"forged callback -> {response.status_code}", response.text)
    assert response.status_code == 401, (
        f"POST {callback_url}: callback signed with a secret other than BULI2_SIGNATURE_SECRET: expected 401,"
        f" got {response.status_code}: {response.text[:300]}"
    )


def test_callback_without_a_signature_is_refused_with_401(api, callback_url, run_id, synthetic, evidence):
    """The common slip: the signature is checked only when the header is there."""
    callback_id, body = tracked_decision(run_id, synthetic)
    headers = {name: value for name, value in sign("", callback_id, body).headers.items() if name != buli2.SIGNATURE_HEADER}
    response = api.post(callback_url, content=body, headers=headers)
    evidence.add(f"callback without {buli2.SIGNATURE_HEADER} -> {response.status_code}", response.text)
    assert response.status_code == 401, (
        f"POST {callback_url}: callback with a timestamp and no {buli2.SIGNATURE_HEADER} header: expected 401,"
        f" got {response.status_code}: {response.text[:300]}"
    )


def test_stale_callback_is_refused_with_400(api, target, callback_url, run_id, synthetic, evidence):
    callback_id, body = tracked_decision(run_id, synthetic)
    age_s = buli2.MAX_SKEW_S + 60
    stale = sign(target.secret_key("buli2", "BULI2_SIGNATURE_SECRET"), callback_id, body, timestamp=time.time() - age_s)
    response = api.post(callback_url, content=stale.body, headers=stale.headers)
    evidence.add(f"callback signed {age_s}s ago -> {response.status_code}", response.text)
    assert response.status_code == 400, (
        f"POST {callback_url}: correctly signed callback whose timestamp is {age_s}s old (limit {buli2.MAX_SKEW_S}s):"
        f" expected 400 (stale), got {response.status_code}: {response.text[:300]}"
    )
