"""FiLot's alarms as the manifest defines them (``alerts/cloudwatch-alarms.json``, rendered for the
target's account, region and ALB) compared with ``describe-alarms``: what differs, by field.

Only what decides when an alarm fires and whom it tells is compared (metric, statistic, period,
threshold, comparison, evaluation, missing-data treatment, actions); descriptions and tags are not.
"""

from __future__ import annotations

from typing import Any, Mapping

from filot_contract import aws_names
from filot_gate.manifests import ManifestParams, load_alarms

COMPARED = (
    "Namespace", "MetricName", "Statistic", "ExtendedStatistic", "Dimensions", "Period", "Unit",
    "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
    "ActionsEnabled", "AlarmActions", "OKActions", "Metrics",
)


def monitoring_params(target: Any) -> ManifestParams:
    """What the monitoring manifests (alarms, dashboard) are rendered with: the account (STS), the region
    and FiLot's ALB."""
    account_id = target.client("sts").get_caller_identity()["Account"]
    balancers = target.client("elbv2").describe_load_balancers(Names=[aws_names.ALB_NAME])["LoadBalancers"]
    return ManifestParams(account_id=account_id, region=target.settings.region,
                          load_balancer_arn=balancers[0]["LoadBalancerArn"])


def expected_alarms(target: Any) -> list[dict[str, Any]]:
    """The manifest's ``put-metric-alarm`` inputs rendered for this target."""
    return load_alarms(monitoring_params(target))


def differences(expected: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    """``field: expected X, got Y`` for each compared field the live alarm does not match."""
    return [f"{name}: expected {_show(expected[name])}, got {_show(live.get(name))}"
            for name in COMPARED if name in expected and not _matches(expected[name], live.get(name))]


def _matches(expected: Any, live: Any) -> bool:
    """AWS equality: numbers by value, lists in any order, and a live object may carry more keys than
    the manifest set (AWS fills in defaults such as ``ReturnData`` or ``AccountId``)."""
    if isinstance(expected, bool) or expected is None:
        return expected == live
    if isinstance(expected, (int, float)):
        return isinstance(live, (int, float)) and not isinstance(live, bool) and float(expected) == float(live)
    if isinstance(expected, Mapping):
        return isinstance(live, Mapping) and all(_matches(v, live.get(k)) for k, v in expected.items())
    if isinstance(expected, list):
        if not isinstance(live, list) or len(expected) != len(live):
            return False
        remaining = list(live)
        for item in expected:
            match = next((i for i, candidate in enumerate(remaining) if _matches(item, candidate)), None)
            if match is None:
                return False
            remaining.pop(match)
        return True
    return expected == live


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 300 else text[:300] + "..."
