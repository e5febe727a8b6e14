"""E2E of the Entity & Permissions Core (seed 004): its API answers ``/healthz`` through the load
balancer ("Health Check Endpoint"), and an audit event published to the audit topic reaches the audit
worker through the queue and is consumed ("Worker Not Processing Messages").

The gate's audit event is synthetic (type ``deployment-gate.synthetic``, id ``gate-<run id>-...``): the
worker logs it and keeps nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from filot_contract import aws_names
from filot_contract.epr import AUDIT_CONSUMED, synthetic_audit_event
from filot_gate.api_client import CheckedApi
from filot_gate.messaging import audit_queue_url, queue_depth, topic_arn
from filot_gate.polling import poll_until
from filot_gate.settings import GateSettings
from filot_gate.target import Target

pytestmark = pytest.mark.e2e

#: Seconds an audit event may take from the topic to the worker's log line (a 20 s long poll, log delivery).
DEFAULT_AUDIT_EVENT_S = 60


@pytest.fixture(scope="module")
def epr_api(target: Target, settings: GateSettings) -> Iterator[CheckedApi]:
    if not settings.epr_api_url:
        pytest.skip(f"profile {settings.profile.path.name} names no EPR load balancer ([epr] api_url, env"
                    " FILOT_EPR_API_URL): EPR's /healthz is not checked through it; its tasks' health is (infra)")
    with target.epr_api() as client:
        yield CheckedApi(client)


def test_epr_healthz_answers_ok_through_the_load_balancer(epr_api, evidence):
    response = epr_api.get(aws_names.EPR_HEALTH_CHECK_PATH)
    evidence.add(f"GET {aws_names.EPR_HEALTH_CHECK_PATH}", response.text)
    assert response.status_code == 200, (
        f"GET {epr_api.base_url}{aws_names.EPR_HEALTH_CHECK_PATH}: expected 200, got {response.status_code}:"
        f" {response.text[:300]}"
    )
    status = response.json().get("status")
    assert status == "ok", f"EPR {aws_names.EPR_HEALTH_CHECK_PATH}: expected status ok, got {status!r}"


def test_audit_event_published_to_the_audit_topic_is_consumed_by_the_worker(target, settings, aws_account_id, run_id,
                                                                             evidence):
    event = synthetic_audit_event(run_id)
    topic = topic_arn(settings.region, aws_account_id, aws_names.EPR_AUDIT_TOPIC)
    published_ms = int(time.time() * 1000)
    target.client("sns").publish(TopicArn=topic, Message=json.dumps(event), Subject="FiLot deployment gate audit event")
    logs = target.client("logs")

    def consumed_lines() -> list[str]:
        pages = logs.get_paginator("filter_log_events").paginate(
            logGroupName=aws_names.EPR_LOG_GROUP, startTime=published_ms - 60_000, filterPattern=f'"{event["eventId"]}"')
        return [e["message"] for page in pages for e in page["events"] if AUDIT_CONSUMED in e["message"]]

    deadline = settings.profile.get("deadlines.audit_event_s", DEFAULT_AUDIT_EVENT_S)
    lines = poll_until(consumed_lines, bool, deadline_s=deadline, interval_s=2.0,
                       awaited=f"audit event {event['eventId']} consumed", describe=lambda found: f"{len(found)} lines")
    evidence.add("audit event published", {"topic": topic, "event": event, "workerLines": lines})
    if not lines:
        url = audit_queue_url(target.client("sqs"))
        depth = queue_depth(target.client("sqs"), url) if url else None
        evidence.add(f"SQS {aws_names.EPR_AUDIT_QUEUE}", depth or "queue does not exist")
        where = (f"Queue {aws_names.EPR_AUDIT_QUEUE}: {depth['visible']} visible, {depth['inFlight']} in flight"
                 if depth else f"Queue {aws_names.EPR_AUDIT_QUEUE} does not exist")
        pytest.fail(f"EPR audit worker: expected it to log {AUDIT_CONSUMED!r} for audit event {event['eventId']}"
                    f" (published to {topic}) in {aws_names.EPR_LOG_GROUP} within {deadline:g}s; it did not. {where}",
                    pytrace=False)
