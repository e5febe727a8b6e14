"""E2E (seed 002 section 8 "Test NPWP parsing"): an NPWP card takes the same way as a KTP and is read."""

from __future__ import annotations

import pytest

from filot_contract.documents import VerificationStatus
from filot_gate import corpus
from filot_gate.document_checks import assert_history_in_order

pytestmark = pytest.mark.e2e

CARD = corpus.first("NPWP", "auto_approve")


@pytest.fixture(scope="module")
def npwp(journey):
    return journey(CARD)


def test_npwp_upload_is_scored_and_approved(npwp, evidence):
    npwp.add_evidence(evidence)
    assert npwp.upload.accepted, npwp.upload.refusal()
    npwp.reached(npwp.status is not None)
    expected = VerificationStatus.AUTO_APPROVED.value
    assert npwp.status == expected, (
        f"documents.verification_status of NPWP {npwp.document_id} ({CARD.file}): expected {expected}, got {npwp.status}"
        f" (score {npwp.scored['score']}, reasons {npwp.scored['reasons']})"
    )
    assert_history_in_order(npwp.document_id, npwp.history, npwp.status)


def test_npwp_fields_match_the_ground_truth(npwp, evidence):
    npwp.require("the parsed fields", npwp.scored is not None)
    npwp.add_evidence(evidence)
    wrong = CARD.mismatches(npwp.scored["fields"])
    evidence.add("fields vs ground truth", wrong or "all equal")
    assert not wrong, f"verification_results.fields of NPWP {npwp.document_id} ({CARD.file}): differ from the ground truth: {wrong}"
