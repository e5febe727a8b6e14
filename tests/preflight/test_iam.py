"""Preflight: the IAM roles ECS needs exist (seed 000 "Prerequisites" 4 and section 0, seed 001 task roles,
seed 004 "IAM Roles"), and EPR's task role lets its containers consume the audit queue and publish
document-vault events (seed 004 "Check SQS Permissions", "least-privilege IAM policies")."""

from __future__ import annotations

import pytest

from filot_contract import aws_names
from filot_gate.checks import unless_absent
from filot_gate.iam_policy import allows, role_policies
from filot_gate.messaging import queue_arn, topic_arn

pytestmark = pytest.mark.preflight


@pytest.mark.parametrize("role", aws_names.IAM_ROLES)
def test_iam_role_exists(target, role):
    found = unless_absent(lambda: target.client("iam").get_role(RoleName=role), "NoSuchEntity")
    assert found is not None, f"IAM role {role}: expected to exist (aws iam get-role), got NoSuchEntity"


def test_epr_task_role_may_consume_the_audit_queue_and_publish_document_events(target, settings, aws_account_id, evidence):
    role = aws_names.EPR_TASK_ROLE
    needs = [(action, queue_arn(settings.region, aws_account_id, aws_names.EPR_AUDIT_QUEUE))
             for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage")]
    needs.append(("sns:Publish", topic_arn(settings.region, aws_account_id, aws_names.EPR_DOCUMENT_TOPIC)))
    policies = unless_absent(lambda: role_policies(target.client("iam"), role), "NoSuchEntity")
    assert policies is not None, f"IAM role {role}: expected to exist (aws iam get-role), got NoSuchEntity"
    evidence.add(f"policies of {role}", policies)
    missing = [f"{action} on {resource}" for action, resource in needs if not allows(policies.values(), action, resource)]
    assert not missing, (
        f"IAM role {role}: expected its policies ({', '.join(policies) or 'none'}) to allow {'; '.join(missing)};"
        f" they do not (aws iam get-role-policy --role-name {role} --policy-name {aws_names.EPR_QUEUE_POLICY})"
    )
