"""Infra (seed 001 "Task Definition", seed 002 section 1 "Environment Variables", DESIGN.md section 1):
the revision each service runs is the repo's manifest, not an edited copy. Every container's
environment, secrets, resources, health check and log configuration, and the task's size, network mode
and roles, equal the manifest rendered for this account and region with the integrations the profile
says this deployment uses. Only the image may differ: a deploy picks the release."""

from __future__ import annotations

import pytest

from filot_contract import aws_names
from filot_gate.checks import deployed_arn
from filot_gate.deploy import secret_arns
from filot_gate.manifest_diff import differences
from filot_gate.manifests import ManifestParams, load_task_definition

pytestmark = pytest.mark.infra

#: What a container definition of the manifest decides (the image is the release's, not the manifest's).
CONTAINER_FIELDS = ("environment", "secrets", "cpu", "memory", "essential", "healthCheck", "resourceRequirements",
                    "linuxParameters", "logConfiguration", "portMappings")
#: What the task definition itself decides.
TASK_FIELDS = ("cpu", "memory", "networkMode", "requiresCompatibilities", "taskRoleArn", "executionRoleArn")


@pytest.fixture(scope="module")
def manifest_params(target, settings, aws_account_id) -> ManifestParams:
    """The manifest's parameters for this account: its secrets' ARNs, the integrations the profile uses."""
    arns = secret_arns(target.client("secretsmanager"), target.secrets_prefix)
    return ManifestParams.from_image_versions(
        aws_account_id, settings.region,
        secret_arns={aws_names.SECRETS_PREFIX + name[len(target.secrets_prefix):]: arn for name, arn in arns.items()},
        features=frozenset({"temporal"} if settings.profile.get("temporal.enabled", False) else ()))


@pytest.mark.parametrize("service_key", list(aws_names.SERVICES))
def test_deployed_revision_is_the_manifest_s_configuration(ecs, deploy_record, manifest_params, service_key, evidence):
    arn = deployed_arn(deploy_record, service_key)
    live = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    manifest = load_task_definition(service_key, manifest_params)
    found = differences("task", manifest, live, TASK_FIELDS)
    live_containers = {c["name"]: c for c in live["containerDefinitions"]}
    for container in manifest["containerDefinitions"]:
        deployed = live_containers.get(container["name"])
        if deployed is None:
            found.append(f"container {container['name']}: in the manifest, not in the revision")
            continue
        found += differences(f"container {container['name']}", container, deployed, CONTAINER_FIELDS)
    evidence.add("differences from the manifest", found or "none")
    assert not found, (
        f"task definition {arn.rsplit('/', 1)[-1]} ({service_key}): expected the configuration of"
        f" the {manifest['family']} manifest in infra/ecs/; {'; '.join(found)}")
