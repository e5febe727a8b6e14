"""Infra (seed 001 "Service Configuration", seed 000 "Placement & constraints"): each ECS service is
configured as its manifest in ``infra/ecs/`` says: launch type and platform, the worker's placement on
g5 instances spread across availability zones, the health-check grace period, how many tasks a deploy
may run and must keep, and no public IP. What other checks own is left to them: the circuit breaker
(``test_services.py``), the revision (the deploy record), the desired count (autoscaling may move it;
running == desired is checked), subnets and security groups (the deploy's parameters)."""

from __future__ import annotations

import pytest

from filot_contract import aws_names
from filot_gate.checks import describe_service, service_name
from filot_gate.manifest_diff import differences
from filot_gate.manifests import SERVICE_FILES, read_json

pytestmark = pytest.mark.infra

SERVICE_FIELDS = ("launchType", "platformVersion", "schedulingStrategy", "deploymentController",
                  "healthCheckGracePeriodSeconds", "placementConstraints", "placementStrategy", "propagateTags")
DEPLOYMENT_FIELDS = ("maximumPercent", "minimumHealthyPercent")
NETWORK_FIELDS = ("assignPublicIp",)


@pytest.mark.parametrize("service_key", list(aws_names.SERVICES))
def test_service_is_configured_as_its_manifest_says(ecs, service_key, evidence):
    live, manifest = describe_service(ecs, service_key), read_json(SERVICE_FILES[service_key])
    network = (manifest.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
    live_network = (live.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
    found = (differences("service", manifest, live, SERVICE_FIELDS)
             + differences("deploymentConfiguration", manifest.get("deploymentConfiguration") or {},
                           live.get("deploymentConfiguration") or {}, DEPLOYMENT_FIELDS)
             + differences("awsvpcConfiguration", network, live_network, NETWORK_FIELDS))
    evidence.add("the service as ECS describes it",
                 {f: live.get(f) for f in (*SERVICE_FIELDS, "deploymentConfiguration", "networkConfiguration")})
    assert not found, (
        f"{service_name(service_key)}: expected the configuration of {SERVICE_FILES[service_key]}; {'; '.join(found)}")
