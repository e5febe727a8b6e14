"""E2E (seed 002 section 6 "Verify JWT_SECRET is NOT the default value"): FiLot refuses a token
signed with any well-known default secret, as an attacker who read a tutorial would sign one."""

from __future__ import annotations

import warnings

import pytest
from jwt.warnings import InsecureKeyLengthWarning

from filot_contract.secrets import KNOWN_DEFAULT_SECRETS
from filot_gate.tokens import sign_token

pytestmark = pytest.mark.e2e


def test_token_signed_with_a_known_default_secret_is_refused(api, synthetic, evidence):
    subject = synthetic.subject("default-jwt")
    answers = {}
    for index, default in enumerate(sorted(KNOWN_DEFAULT_SECRETS)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)  # weak on purpose: these are the defaults
            token = sign_token(default, subject)
        answers[index] = api.post("/documents", headers={"Authorization": f"Bearer {token}"}).status_code
        if answers[index] >= 500:
            break  # the API is failing, not judging tokens: the rest would only repeat it
    evidence.add("POST /documents with a token signed by each known default (index -> status)", answers)
    accepted = {index: status for index, status in answers.items() if status != 401}
    assert not accepted, (
        f"POST /documents: expected 401 for tokens signed with each of the {len(answers)} known default secrets"
        f" (filot_contract.secrets.KNOWN_DEFAULT_SECRETS, sorted); not refused: {accepted} (entry index -> status)"
    )
