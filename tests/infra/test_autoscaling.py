"""Infra: the backend scales with its traffic (seed 003 section 6, "Configure auto-scaling - ECS service
auto-scaling for traffic spikes"): Application Auto Scaling has the backend service's scalable target with
the capacity of its manifest, nothing suspended, and each scaling policy of the manifest as it says."""

from __future__ import annotations

import pytest

from filot_gate.manifest_diff import differences
from filot_gate.manifests import BACKEND_SCALING_FILE, read_json

pytestmark = pytest.mark.infra

SCALING = read_json(BACKEND_SCALING_FILE)
TARGET = SCALING["ScalableTarget"]


def test_backend_service_scales_with_traffic_as_its_manifest_says(target, evidence):
    autoscaling = target.client("application-autoscaling")
    where = f"Application Auto Scaling target {TARGET['ResourceId']}"
    selector = {"ServiceNamespace": TARGET["ServiceNamespace"], "ScalableDimension": TARGET["ScalableDimension"]}
    found = autoscaling.describe_scalable_targets(ResourceIds=[TARGET["ResourceId"]], **selector)["ScalableTargets"]
    assert found, (
        f"{where}: expected to exist ({BACKEND_SCALING_FILE}), it does not: the backend keeps its desired count"
        " through any traffic spike (aws application-autoscaling describe-scalable-targets)")
    policies = {p["PolicyName"]: p for p in autoscaling.describe_scaling_policies(
        ResourceId=TARGET["ResourceId"], **selector)["ScalingPolicies"]}
    evidence.add("scalable target", found[0])
    evidence.add("scaling policies", list(policies.values()))
    differ = differences("capacity", TARGET, found[0], ("MinCapacity", "MaxCapacity"))
    differ += [f"{name} is suspended" for name, on in (found[0].get("SuspendedState") or {}).items() if on]
    for policy in SCALING["ScalingPolicies"]:
        name = policy["PolicyName"]
        if name not in policies:
            differ.append(f"scaling policy {name} missing")
            continue
        differ += differences(f"policy {name}", policy, policies[name],
                              ("PolicyType", "TargetTrackingScalingPolicyConfiguration", "StepScalingPolicyConfiguration"))
    assert not differ, f"{where}: expected what {BACKEND_SCALING_FILE} says; " + "; ".join(differ)
