"""Preflight: EPR's messaging exists as seed 004 "Prerequisites" 1 lists it: the document-vault and
audit SNS topics, and the audit queue subscribed to the audit topic (the audit worker's only input),
with the access policy that lets the topic deliver to it."""

from __future__ import annotations

import json

import pytest

from filot_contract import aws_names
from filot_gate.checks import unless_absent
from filot_gate.iam_policy import lets_service_send
from filot_gate.messaging import audit_queue_url, confirmed, queue_arn, topic_arn, topic_subscriptions

pytestmark = pytest.mark.preflight


@pytest.mark.parametrize("topic", [aws_names.EPR_DOCUMENT_TOPIC, aws_names.EPR_AUDIT_TOPIC])
def test_sns_topic_exists(target, settings, aws_account_id, topic):
    arn = topic_arn(settings.region, aws_account_id, topic)
    found = unless_absent(lambda: target.client("sns").get_topic_attributes(TopicArn=arn), "NotFound")
    assert found is not None, f"SNS topic {arn}: expected to exist (aws sns get-topic-attributes), got NotFound"


def test_audit_queue_is_subscribed_to_the_audit_topic(target, settings, aws_account_id, evidence):
    url = audit_queue_url(target.client("sqs"))
    assert url, f"SQS queue {aws_names.EPR_AUDIT_QUEUE}: expected to exist (aws sqs get-queue-url), it does not"
    topic = topic_arn(settings.region, aws_account_id, aws_names.EPR_AUDIT_TOPIC)
    queue = queue_arn(settings.region, aws_account_id, aws_names.EPR_AUDIT_QUEUE)
    subscriptions = topic_subscriptions(target.client("sns"), topic)
    assert subscriptions is not None, f"SNS topic {topic}: expected to exist (aws sns list-subscriptions-by-topic), got NotFound"
    evidence.add("aws sns list-subscriptions-by-topic", subscriptions)
    delivering = [s for s in subscriptions if s["Protocol"] == "sqs" and s["Endpoint"] == queue and confirmed(s)]
    seen = ", ".join(f"{s['Protocol']} {s['Endpoint']} ({s['SubscriptionArn'].rsplit(':', 1)[-1]})" for s in subscriptions)
    assert delivering, (
        f"SNS topic {topic}: expected a confirmed sqs subscription delivering to {queue} (the audit worker's queue),"
        f" got {seen or 'no subscriptions'}"
    )


def test_audit_queue_lets_the_audit_topic_deliver(target, settings, aws_account_id, evidence):
    sqs = target.client("sqs")
    url = audit_queue_url(sqs)
    assert url, f"SQS queue {aws_names.EPR_AUDIT_QUEUE}: expected to exist (aws sqs get-queue-url), it does not"
    policy = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {}).get("Policy")
    evidence.add(f"access policy of {aws_names.EPR_AUDIT_QUEUE}", policy or "(none)")
    topic = topic_arn(settings.region, aws_account_id, aws_names.EPR_AUDIT_TOPIC)
    queue = queue_arn(settings.region, aws_account_id, aws_names.EPR_AUDIT_QUEUE)
    assert policy and lets_service_send(json.loads(policy), "sns.amazonaws.com", "sqs:SendMessage", queue, topic), (
        f"SQS queue {aws_names.EPR_AUDIT_QUEUE}: expected an access policy that lets sns.amazonaws.com sqs:SendMessage"
        f" for aws:SourceArn {topic} (without it SNS drops every audit event, though the subscription exists);"
        f" got {'a policy that does not' if policy else 'no policy'} (aws sqs get-queue-attributes --attribute-names Policy)"
    )
