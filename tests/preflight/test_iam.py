"""Preflight: the IAM roles ECS needs exist (seed 000 "Prerequisites" 4 and section 0, seed 001 task roles)."""

from __future__ import annotations

import pytest

from filot_contract import aws_names
from filot_gate.checks import unless_absent

pytestmark = pytest.mark.preflight


@pytest.mark.parametrize("role", aws_names.IAM_ROLES)
def test_iam_role_exists(target, role):
    found = unless_absent(lambda: target.client("iam").get_role(RoleName=role), "NoSuchEntity")
    assert found is not None, f"IAM role {role}: expected to exist (aws iam get-role), got NoSuchEntity"
