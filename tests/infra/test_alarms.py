"""Infra: monitoring (seed 000 section 6 "Recommended alarms", Acceptance Criteria "CloudWatch
dashboards and alarms created", seed 002 section 7, DESIGN.md section 4 "Before e2e, no FiLot alarm
may already be in ALARM"): every alarm of the manifest exists as defined, the gauges the alarms watch
are still arriving, none is firing, each topic the alarms notify reaches someone, the dashboard exists."""

from __future__ import annotations

import json

import pytest

from filot_contract import metrics
from filot_gate import alarm_diff
from filot_gate.checks import unless_absent
from filot_gate.metric_arrival import DEFAULT_METRIC_MAX_AGE_S, arriving, samples_within
from filot_gate.manifests import ALARMS_FILE, DASHBOARD_FILE, NOTIFICATIONS_FILE, load_dashboard, read_json
from filot_gate.messaging import confirmed, topic_arn, topic_subscriptions

pytestmark = pytest.mark.infra

ALARM_NAMES = [alarm["AlarmName"] for alarm in read_json(ALARMS_FILE)]
#: The alarms on a gauge FiLot publishes every minute, traffic or not: their metric must be arriving.
GAUGE_ALARM_NAMES = [alarm["AlarmName"] for alarm in read_json(ALARMS_FILE)
                     if alarm.get("Namespace") == metrics.NAMESPACE and alarm.get("MetricName") in metrics.GAUGES]
#: What a dashboard widget shows, compared with the manifest (titles, sizes and colours are not).
SHOWN_DATA = ("metrics", "alarms", "query")
NOTIFIED_TOPICS = read_json(NOTIFICATIONS_FILE)


@pytest.fixture(scope="module")
def expected_alarms(target) -> dict[str, dict]:
    return {alarm["AlarmName"]: alarm for alarm in alarm_diff.expected_alarms(target)}


def describe_alarms(target, **filters) -> list[dict]:
    """Metric and composite alarms (``aws cloudwatch describe-alarms --alarm-types ...``)."""
    paginator = target.client("cloudwatch").get_paginator("describe_alarms")
    return [alarm for page in paginator.paginate(AlarmTypes=["MetricAlarm", "CompositeAlarm"], **filters)
            for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])]


@pytest.mark.parametrize("name", ALARM_NAMES)
def test_alarm_exists_as_the_manifest_defines_it(target, expected_alarms, name):
    live = describe_alarms(target, AlarmNames=[name])
    assert live, f"CloudWatch alarm {name}: expected to exist ({ALARMS_FILE}), it does not"
    found = alarm_diff.differences(expected_alarms[name], live[0])
    assert not found, f"CloudWatch alarm {name}: differs from {ALARMS_FILE}: " + "; ".join(found)


@pytest.mark.parametrize("name", GAUGE_ALARM_NAMES)
def test_metric_the_alarm_watches_is_arriving(target, settings, expected_alarms, evidence, name):
    alarm = expected_alarms[name]
    namespace, metric, dimensions = alarm["Namespace"], alarm["MetricName"], alarm.get("Dimensions", [])
    max_age = settings.profile.get("deadlines.metric_max_age_s", DEFAULT_METRIC_MAX_AGE_S)
    cloudwatch = target.client("cloudwatch")
    samples = samples_within(cloudwatch, namespace, metric, dimensions, max_age)
    evidence.add(f"datapoints of {namespace}/{metric} in the last {max_age:g}s", samples)
    published = [] if samples else arriving(cloudwatch, namespace, max_age)
    watched = f"{namespace}/{metric}" + (f" {dimensions}" if dimensions else " (no dimensions)")
    assert samples, (
        f"CloudWatch alarm {name} watches {watched}: expected a datapoint in the last {max_age:g}s (FiLot publishes"
        f" it every minute, profile [deadlines] metric_max_age_s), got none, so the alarm cannot fire; metrics of"
        f" namespace {namespace} that are arriving: {', '.join(published) or 'none'}")


def test_no_filot_alarm_is_in_alarm(target, evidence):
    firing = [a for a in describe_alarms(target, StateValue="ALARM")
              if a["AlarmName"] in ALARM_NAMES or a["AlarmName"].startswith("filot-")]
    evidence.add("alarms in ALARM", [{k: a.get(k) for k in ("AlarmName", "StateReason", "StateUpdatedTimestamp")}
                                     for a in firing])
    assert not firing, "CloudWatch: expected no FiLot alarm in ALARM before e2e; " + "; ".join(
        f"{a['AlarmName']} since {a.get('StateUpdatedTimestamp')}: {a.get('StateReason')}" for a in firing)


@pytest.mark.parametrize("topic", NOTIFIED_TOPICS, ids=lambda topic: topic["TopicName"])
def test_alarm_topic_has_a_confirmed_subscriber(target, settings, aws_account_id, evidence, topic):
    arn = topic_arn(settings.region, aws_account_id, topic["TopicName"])
    subscriptions = topic_subscriptions(target.client("sns"), arn)
    assert subscriptions is not None, f"SNS topic {arn}: expected to exist ({NOTIFICATIONS_FILE}), got NotFound: {topic['Why']}"
    # endpoints are people's addresses and PagerDuty's integration keys: only protocols and states are shown
    seen = [f"{s['Protocol']} ({'confirmed' if confirmed(s) else s['SubscriptionArn']})" for s in subscriptions]
    evidence.add("aws sns list-subscriptions-by-topic", seen)
    reached = [s for s in subscriptions if s["Protocol"] in topic["Protocols"] and confirmed(s)]
    assert reached, (
        f"SNS topic {arn}: expected a confirmed {' or '.join(topic['Protocols'])} subscription ({NOTIFICATIONS_FILE}),"
        f" got {', '.join(seen) or 'no subscription'}: {topic['Why']} and would reach no one")


def test_dashboard_exists_with_the_manifests_widgets(target, evidence):
    manifest = load_dashboard(alarm_diff.monitoring_params(target))
    name = manifest["DashboardName"]
    found = unless_absent(lambda: target.client("cloudwatch").get_dashboard(DashboardName=name), "ResourceNotFound")
    assert found is not None, f"CloudWatch dashboard {name}: expected to exist ({DASHBOARD_FILE}), it does not"
    live = {w.get("properties", {}).get("title"): w for w in json.loads(found["DashboardBody"]).get("widgets", [])}
    expected = json.loads(manifest["DashboardBody"])["widgets"]
    missing = [w["properties"]["title"] for w in expected if w["properties"].get("title") not in live]
    assert not missing, f"CloudWatch dashboard {name}: expected the widgets of {DASHBOARD_FILE}; missing: {', '.join(missing)}"
    differing = widget_differences(expected, live)
    evidence.add("widgets that show other data than the manifest's", differing)
    assert not differing, f"CloudWatch dashboard {name}: widgets differ from {DASHBOARD_FILE}: " + "; ".join(differing)


def widget_differences(expected: list[dict], live: dict[str, dict]) -> list[str]:
    """``widget 'T' metrics: expected X, got Y`` for each manifest widget whose live twin shows other data."""
    found = []
    for widget in expected:
        title = widget["properties"].get("title")
        for key in SHOWN_DATA:
            wanted, shown = widget["properties"].get(key), live[title]["properties"].get(key)
            if wanted is not None and shown != wanted:
                found.append(f"widget '{title}' {key}: expected {wanted}, got {shown}")
    return found
