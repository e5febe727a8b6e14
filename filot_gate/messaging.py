"""SNS topics and SQS queues as the gate finds them (EPR's of seed 004, the alarms' topics): ARNs built from
the account and region, a topic's subscriptions, and the queue's depth as ``aws sqs get-queue-attributes``
shows it."""

from __future__ import annotations

from typing import Any

from filot_contract import aws_names
from filot_gate.checks import unless_absent

#: What SQS answers for a queue that does not exist (query and JSON protocols).
QUEUE_ABSENT = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


def topic_arn(region: str, account_id: str, topic: str) -> str:
    return f"arn:aws:sns:{region}:{account_id}:{topic}"


def queue_arn(region: str, account_id: str, queue: str) -> str:
    return f"arn:aws:sqs:{region}:{account_id}:{queue}"


def topic_subscriptions(sns: Any, arn: str) -> list[dict[str, Any]] | None:
    """Every subscription of topic ``arn`` (``aws sns list-subscriptions-by-topic``), None when the topic does
    not exist. An unconfirmed one has ``SubscriptionArn`` "PendingConfirmation" instead of an ARN."""
    pages = unless_absent(lambda: list(sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn)),
                          "NotFound")
    return None if pages is None else [s for page in pages for s in page["Subscriptions"]]


def confirmed(subscription: dict[str, Any]) -> bool:
    return subscription["SubscriptionArn"].startswith("arn:")


def audit_queue_url(sqs: Any) -> str | None:
    """The audit queue's URL, None when it does not exist."""
    found = unless_absent(lambda: sqs.get_queue_url(QueueName=aws_names.EPR_AUDIT_QUEUE), *QUEUE_ABSENT)
    return found["QueueUrl"] if found else None


def queue_depth(sqs: Any, url: str) -> dict[str, int]:
    """Visible and in-flight messages of a queue."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return {"visible": int(attributes.get(names[0], 0)), "inFlight": int(attributes.get(names[1], 0))}
