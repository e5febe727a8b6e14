"""How the gate reads a role's policies (``filot_gate.iam_policy.allows``): as IAM does for the cases a
task role's inline policies use; where it cannot know (a Condition), it says "not allowed"."""

from __future__ import annotations

import pytest

from filot_gate.iam_policy import allows

QUEUE = "arn:aws:sqs:ap-southeast-2:123456789012:epr-audit-events-queue"


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


@pytest.mark.parametrize("statements, expected", [
    ([{"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": QUEUE}], True),
    ([{"Effect": "Allow", "Action": ["SQS:receive*"], "Resource": "arn:aws:sqs:*:*:epr-*"}], True),
    ([{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"},
      {"Effect": "Deny", "Action": "sqs:ReceiveMessage", "Resource": QUEUE}], False),
    ([{"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": QUEUE,
       "Condition": {"Bool": {"aws:SecureTransport": "true"}}}], False),
    ([{"Effect": "Allow", "Action": "sqs:DeleteMessage", "Resource": QUEUE}], False),
    ([{"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": QUEUE + "-dlq"}], False),
    ([], False),
], ids=["exact", "wildcards-and-case", "deny-wins", "condition-not-counted", "other-action", "other-queue", "no-policy"])
def test_allows_reads_policies_as_iam_does(statements, expected):
    assert allows([policy(*statements)], "sqs:ReceiveMessage", QUEUE) is expected


def test_a_single_statement_object_counts_like_a_list():
    document = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": QUEUE}}
    assert allows([document], "sqs:ReceiveMessage", QUEUE)
