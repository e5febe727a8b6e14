"""E2E (seed 002 section 8): the automatic decisions. A clean KTP is approved (test_ktp_flow.py); a KTP
whose NIK contradicts what is printed on it is rejected without a person; a degraded photo goes to
manual review (test_buli2_review.py)."""

from __future__ import annotations

import pytest

from filot_contract.documents import AUTO_REJECT_THRESHOLD, VerificationStatus
from filot_gate import corpus
from filot_gate.document_checks import assert_history_in_order

pytestmark = pytest.mark.e2e

INVALID = corpus.first("KTP", "auto_reject")


def test_invalid_ktp_is_auto_rejected(journey, evidence):
    rejected = journey(INVALID)
    rejected.add_evidence(evidence)
    assert rejected.upload.accepted, rejected.upload.refusal()
    rejected.reached(rejected.status is not None)
    evidence.add("verification_results row", rejected.scored)
    expected = VerificationStatus.AUTO_REJECTED.value
    assert rejected.status == expected, (
        f"documents.verification_status of {rejected.document_id} ({INVALID.file}, a forged NIK): expected {expected},"
        f" got {rejected.status} (score {rejected.scored['score']}, reasons {rejected.scored['reasons']})"
    )
    assert float(rejected.scored["score"]) <= AUTO_REJECT_THRESHOLD, (
        f"verification_results of {rejected.document_id}: expected score <= {AUTO_REJECT_THRESHOLD}, got {rejected.scored['score']}"
    )
    assert rejected.scored["reasons"], f"verification_results of {rejected.document_id}: a rejection must say why; reasons are empty"
    assert_history_in_order(rejected.document_id, rejected.history, rejected.status)
