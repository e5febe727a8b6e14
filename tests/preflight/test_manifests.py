"""Preflight: the task definitions this deploy ships are valid (seed 000 sections 2-3, seed 001
"Task Definition", DESIGN.md section 5): a valid register-task-definition input, secrets only through
valueFrom, the GPU resource requirement on the worker, awslogs into the service's log group, and a
container health check. Checked on the revisions the deploy record names, as registered in ECS."""

from __future__ import annotations

import pytest

from filot_contract import aws_names
from filot_gate import taskdef_rules
from filot_gate.checks import deployed_arn
from filot_gate.manifests import load_secrets_manifest

pytestmark = pytest.mark.preflight


@pytest.mark.parametrize("service_key", list(aws_names.SERVICES))
def test_deployed_task_definition_follows_the_manifest_rules(ecs, deploy_record, service_key, evidence):
    arn = deployed_arn(deploy_record, service_key)
    described = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    evidence.add("container definitions (names, secrets, log configuration, health check, resources)", [
        {k: c.get(k) for k in ("name", "secrets", "logConfiguration", "healthCheck", "resourceRequirements")}
        | {"environment names": [e["name"] for e in c.get("environment", [])]}
        for c in described["containerDefinitions"]
    ])
    found = taskdef_rules.problems(described, service_key, load_secrets_manifest())
    assert not found, f"task definition {arn.rsplit('/', 1)[-1]} ({service_key}): " + "; ".join(found)
