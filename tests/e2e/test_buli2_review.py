"""E2E step 6 (seed 000 section 7): a score between the thresholds goes to manual review, is escalated
to BULI2, and BULI2's signed callback to ``/internal/reviews`` settles the document.

BULI2's reviewers are people, so the gate does not wait for them: once BULI2 has accepted the
escalation, the gate sends the decision callback for its own synthetic document exactly as BULI2
would (signed with ``BULI2_SIGNATURE_SECRET`` from Secrets Manager, to ``BULI2_CALLBACK_URL``). If
BULI2 decided first, the gate's callback carries that same decision and FiLot must accept it as
already settled. Sending that request a second time is the replay check.

Where BULI2 decides by itself within seconds (a staging BULI2 or a simulator: the profile's
``[e2e] buli2_callback_s``), the gate first waits that long for BULI2's own callback to settle the
review: that proves BULI2 and FiLot share the signing secret, which the gate's own callback cannot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from filot_contract.documents import AUTO_APPROVE_THRESHOLD, AUTO_REJECT_THRESHOLD, VerificationStatus
from filot_gate import corpus
from filot_gate.document_checks import assert_history_in_order, fetch_one
from filot_gate.polling import poll_until
from filot_gate.review_callback import CALLBACK_ID_PREFIX, SignedCallback, decision_body, new_callback_id, sign

pytestmark = pytest.mark.e2e

DEGRADED = corpus.first("KTP", "manual_review")
MANUAL_REVIEW = VerificationStatus.MANUAL_REVIEW.value
DECIDED_REVIEW_STATES = ("approved", "rejected")


def read_review(db, document_id: str) -> dict[str, Any] | None:
    return fetch_one(db, "SELECT id, state, buli2_review_id, attempts, last_error, escalated_at, callback_id, reviewer,"
                         " decided_at FROM manual_reviews WHERE document_id = %s ORDER BY id DESC LIMIT 1", (document_id,))


@pytest.fixture(scope="module")
def review(journey):
    return journey(DEGRADED)


def went_to_manual_review(review) -> bool:
    return any(row["status"] == MANUAL_REVIEW for row in review.history)


@pytest.fixture(scope="module")
def escalation(review, db, settings) -> dict[str, Any] | None:
    """The document's manual_reviews row once BULI2 accepted it (or as it is at the deadline)."""
    if not went_to_manual_review(review):
        return None
    deadline = float(settings.profile.get("deadlines.escalation_s", 60))
    return poll_until(lambda: read_review(db, review.document_id), lambda row: row is not None and row["state"] != "pending",
                      deadline_s=deadline, awaited=f"BULI2 to accept the escalation of document {review.document_id}",
                      interval_s=0.5)


@pytest.fixture(scope="module")
def buli2_decision(review, escalation, db, settings) -> dict[str, Any] | None:
    """Where the profile says BULI2 decides by itself: the review once BULI2's callback settled it (or at the deadline)."""
    wait_s = settings.profile.get("e2e.buli2_callback_s")
    if wait_s is None or escalation is None or escalation["state"] == "pending":
        return None
    return poll_until(lambda: read_review(db, review.document_id), lambda row: row["state"] in DECIDED_REVIEW_STATES,
                      deadline_s=float(wait_s), awaited=f"BULI2's own callback for document {review.document_id}",
                      interval_s=0.5)


@dataclass(frozen=True)
class SentCallback:
    url: str
    decision: str
    request: SignedCallback
    response: httpx.Response


@pytest.fixture(scope="module")
def gate_callback(review, escalation, buli2_decision, api, db, target, run_id, settings, synthetic) -> SentCallback | None:
    """The gate's signed decision callback for its document, sent once BULI2 has the review (and, where
    BULI2 decides by itself, after its own callback had its chance)."""
    if escalation is None or escalation["state"] == "pending":
        return None
    current = read_review(db, review.document_id)
    decided = current["state"] in DECIDED_REVIEW_STATES
    decision = current["state"] if decided else settings.profile.get("e2e.review_decision", "approved")
    callback_id = new_callback_id(run_id)
    synthetic.add_callback(callback_id)
    body = decision_body(callback_id, current["buli2_review_id"], review.document_id, decision, f"filot-gate {run_id}")
    request = sign(target.secret_key("buli2", "BULI2_SIGNATURE_SECRET"), callback_id, body)
    url = target.secret_key("buli2", "BULI2_CALLBACK_URL")
    return SentCallback(url, decision, request, api.post(url, content=request.body, headers=request.headers))


def test_degraded_ktp_is_routed_to_manual_review(review, db, evidence):
    review.add_evidence(evidence)
    assert review.upload.accepted, review.upload.refusal()
    review.reached(review.status is not None)
    evidence.add("verification_results row", review.scored)
    score = float(review.scored["score"])
    assert review.scored["decision"] == MANUAL_REVIEW and went_to_manual_review(review), (
        f"document {review.document_id} ({DEGRADED.file}, a degraded photo): expected decision {MANUAL_REVIEW},"
        f" got {review.scored['decision']} (score {score}); history {[h['status'] for h in review.history]}"
    )
    assert AUTO_REJECT_THRESHOLD < score < AUTO_APPROVE_THRESHOLD, (
        f"verification_results of {review.document_id}: a manual review needs a score between {AUTO_REJECT_THRESHOLD}"
        f" and {AUTO_APPROVE_THRESHOLD}, got {score}"
    )
    assert read_review(db, review.document_id) is not None, f"manual_reviews: expected a row for document {review.document_id}, found none"
    assert_history_in_order(review.document_id, review.history, review.status)


def test_manual_review_is_escalated_to_buli2_and_accepted(review, escalation, evidence):
    review.require("the escalation", went_to_manual_review(review))
    review.add_evidence(evidence)
    evidence.add("manual_reviews row", escalation)
    assert escalation is not None and escalation["state"] != "pending", (
        f"manual_reviews of document {review.document_id}: expected BULI2 to accept the escalation (state escalated,"
        f" a BULI2 review id); state {escalation and escalation['state']}, attempts {escalation and escalation['attempts']},"
        f" last error {escalation and escalation['last_error']}"
    )
    assert escalation["buli2_review_id"] and escalation["escalated_at"], (
        f"manual_reviews of document {review.document_id}: state {escalation['state']} but BULI2 review id"
        f" {escalation['buli2_review_id']!r}, escalated_at {escalation['escalated_at']}"
    )


def test_buli2s_own_signed_callback_settles_the_review(review, escalation, buli2_decision, settings, evidence):
    wait_s = settings.profile.get("e2e.buli2_callback_s")
    if wait_s is None:
        pytest.skip(f"profile {settings.profile.path.name}: BULI2's decisions come from people ([e2e] buli2_callback_s not set);"
                    " the gate settles its review with its own signed callback (test_signed_callback_settles_the_document)")
    review.require("BULI2's own callback", escalation is not None and escalation["state"] != "pending")
    evidence.add("manual_reviews row after waiting for BULI2", buli2_decision)
    by_buli2 = buli2_decision["state"] in DECIDED_REVIEW_STATES and not (buli2_decision["callback_id"] or "").startswith(CALLBACK_ID_PREFIX)
    assert by_buli2, (
        f"manual_reviews of document {review.document_id} (BULI2 review {buli2_decision['buli2_review_id']}): expected"
        f" BULI2's own signed callback to settle it within {wait_s}s (profile [e2e] buli2_callback_s); state"
        f" {buli2_decision['state']}: FiLot refused BULI2's callback (a BULI2_SIGNATURE_SECRET mismatch answers 401)"
        " or BULI2 never sent it"
    )


def test_signed_callback_settles_the_document(review, gate_callback, db, evidence):
    review.require("the BULI2 callback", gate_callback is not None)
    review.add_evidence(evidence)
    response = gate_callback.response
    evidence.add(f"POST {gate_callback.url} (callback {gate_callback.request.callback_id}) -> {response.status_code}", response.text)
    assert response.status_code == 200, (
        f"POST {gate_callback.url}: callback {gate_callback.request.callback_id} signed with BULI2_SIGNATURE_SECRET"
        f" (decision {gate_callback.decision}): expected 200, got {response.status_code}: {response.text[:300]}"
    )
    evidence.add("who settled the review", "BULI2 (its own callback came first; the gate's was accepted as the same decision)"
                 if response.json().get("alreadySettled") else "the gate's callback")
    row = db.execute("SELECT verification_status FROM documents WHERE id = %s", (review.document_id,)).fetchone()
    assert row is not None and row[0] == gate_callback.decision, (
        f"documents.verification_status of {review.document_id}: expected {gate_callback.decision} after the callback,"
        f" got {row and row[0]}"
    )
    settled = read_review(db, review.document_id)
    evidence.add("manual_reviews row after the callback", settled)
    assert settled["state"] == gate_callback.decision and settled["decided_at"] and settled["callback_id"], (
        f"manual_reviews of {review.document_id}: expected state {gate_callback.decision} with decided_at and callback_id,"
        f" got {settled['state']}, {settled['decided_at']}, {settled['callback_id']}"
    )
    history = review.history_now(db)
    assert_history_in_order(review.document_id, history, gate_callback.decision)


def test_replayed_callback_is_refused_with_409(review, gate_callback, api, evidence):
    review.require("the replay check", gate_callback is not None and gate_callback.response.status_code == 200)
    request = gate_callback.request
    replay = api.post(gate_callback.url, content=request.body, headers=request.headers)
    evidence.add(f"replay of callback {request.callback_id} -> {replay.status_code}", replay.text)
    assert replay.status_code == 409, (
        f"POST {gate_callback.url}: the same signed callback {request.callback_id} sent again: expected 409 (replay refused),"
        f" got {replay.status_code}: {replay.text[:300]}"
    )
