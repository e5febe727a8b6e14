"""Preflight: GPU capacity (seed 000 "Prerequisites" 4 "ASG & Launch Template for GPU" and section 3 "Ensure
the ASG has at least 1 instance healthy and ``ecsAgent`` running"): the GPU ASG has an InService, Healthy
instance, launched with the ECS instance profile from the launch template version its manifest describes
(so a scale-out launches the same GPU instances into the GPU cluster), and the GPU cluster has an ACTIVE
container instance whose ECS agent is connected."""

from __future__ import annotations

import base64
import binascii
import gzip
import re

import pytest

from filot_contract import aws_names
from filot_gate.checks import unless_absent
from filot_gate.manifests import LAUNCH_TEMPLATE_FILE, read_json

pytestmark = pytest.mark.preflight

#: The instance profile the GPU instances need to join the ECS cluster (seed 000 "Prerequisites" 4).
INSTANCE_PROFILE_ROLE = "ecsInstanceRole"
#: An ECS agent setting in user data: ``ECS_CLUSTER=name``, ``ECS_CLUSTER="name"``, in any line.
ECS_SETTING = re.compile(r"\b(ECS_[A-Z0-9_]+)=[\"']?([^\"'\s]+)")
GZIP_MAGIC = b"\x1f\x8b"


def describe_asg(target) -> dict:
    groups = target.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[aws_names.GPU_ASG])["AutoScalingGroups"]
    assert groups, f"ASG {aws_names.GPU_ASG}: expected to exist (aws autoscaling describe-auto-scaling-groups), it does not"
    return groups[0]


def test_gpu_asg_has_an_in_service_healthy_instance(target, evidence):
    group = describe_asg(target)
    instances = group["Instances"]
    evidence.add(f"ASG {aws_names.GPU_ASG} instances", instances)
    activities = target.client("autoscaling").describe_scaling_activities(
        AutoScalingGroupName=aws_names.GPU_ASG, MaxRecords=5)["Activities"]
    evidence.add(f"ASG {aws_names.GPU_ASG} scaling activities (latest 5)",
                 [f"{a.get('StartTime')} {a.get('StatusCode')}: {a.get('Description')} {a.get('StatusMessage', '')}"
                  for a in activities])
    ready = [i for i in instances if i["LifecycleState"] == "InService" and i["HealthStatus"] == "Healthy"]
    assert ready, (
        f"ASG {aws_names.GPU_ASG}: expected at least 1 InService Healthy instance (desired {group['DesiredCapacity']}),"
        f" got {[(i['InstanceId'], i['LifecycleState'], i['HealthStatus']) for i in instances] or 'no instances'}"
    )


def launched_version(target) -> dict:
    """The launch template version the GPU ASG launches its next instance from."""
    template = describe_asg(target).get("LaunchTemplate") or {}
    name = template.get("LaunchTemplateName")
    assert name == aws_names.GPU_LAUNCH_TEMPLATE, (
        f"ASG {aws_names.GPU_ASG}: expected launch template {aws_names.GPU_LAUNCH_TEMPLATE}, got {name or 'none'}"
    )
    return target.client("ec2").describe_launch_template_versions(
        LaunchTemplateName=name, Versions=[template.get("Version") or "$Default"])["LaunchTemplateVersions"][0]


def test_gpu_instances_launch_with_the_ecs_instance_profile(target):
    version = launched_version(target)
    name = version["LaunchTemplateName"]
    profile = (version["LaunchTemplateData"].get("IamInstanceProfile") or {})
    profile_name = profile.get("Name") or (profile.get("Arn") or "").rsplit("/", 1)[-1]
    assert profile_name, f"launch template {name} v{version['VersionNumber']}: expected an IAM instance profile, it has none"
    found = unless_absent(lambda: target.client("iam").get_instance_profile(InstanceProfileName=profile_name),
                          "NoSuchEntity")
    assert found is not None, f"instance profile {profile_name} (launch template {name}): expected to exist, got NoSuchEntity"
    roles = [r["RoleName"] for r in found["InstanceProfile"]["Roles"]]
    assert INSTANCE_PROFILE_ROLE in roles, (
        f"instance profile {profile_name} (launch template {name}): expected role {INSTANCE_PROFILE_ROLE}, has {roles}"
    )


def test_gpu_asg_launches_the_manifests_gpu_instances_into_the_gpu_cluster(target, evidence):
    version = launched_version(target)
    live, manifest = version["LaunchTemplateData"], read_json(LAUNCH_TEMPLATE_FILE)["LaunchTemplateData"]
    seen = {"ImageId": live.get("ImageId"), "InstanceType": live.get("InstanceType"),
            "MetadataOptions.HttpTokens": (live.get("MetadataOptions") or {}).get("HttpTokens"),
            **ecs_agent_settings(live.get("UserData"))}
    wanted = {"ImageId": manifest["ImageId"], "InstanceType": manifest["InstanceType"],
              "MetadataOptions.HttpTokens": manifest["MetadataOptions"]["HttpTokens"],
              "UserData": None, **ecs_agent_settings(manifest["UserData"])}
    evidence.add(f"launch template {version['LaunchTemplateName']} v{version['VersionNumber']}", seen)
    differ = [f"{key} {seen.get(key)!r} (manifest {value!r})" for key, value in wanted.items() if seen.get(key) != value]
    assert not differ, (
        f"launch template {version['LaunchTemplateName']} v{version['VersionNumber']}, the version ASG {aws_names.GPU_ASG}"
        f" launches: expected what {LAUNCH_TEMPLATE_FILE} says (a GPU instance from the ECS GPU AMI that joins"
        f" {aws_names.GPU_CLUSTER} with GPU support), differs in: {'; '.join(differ)}. The running instance is not"
        " affected; the next scale-out or replacement would be")


def ecs_agent_settings(user_data: str | None) -> dict[str, str]:
    """The ``ECS_*=value`` settings a launch template's base64 user data (plain or gzipped) gives the ECS
    agent, as a heredoc line or ``echo ECS_CLUSTER=... >> /etc/ecs/ecs.config``, quoted or not."""
    try:
        raw = base64.b64decode(user_data or "", validate=True)
        script = (gzip.decompress(raw) if raw[:2] == GZIP_MAGIC else raw).decode()
    except (binascii.Error, OSError, UnicodeDecodeError) as exc:
        return {"UserData": f"(unreadable: {type(exc).__name__})"}
    return {f"ecs.config {key}": value for key, value in ECS_SETTING.findall(script)}


def test_gpu_cluster_has_an_active_container_instance_with_its_agent_connected(ecs, evidence):
    arns = ecs.list_container_instances(cluster=aws_names.GPU_CLUSTER)["containerInstanceArns"]
    described = ecs.describe_container_instances(cluster=aws_names.GPU_CLUSTER, containerInstances=arns)["containerInstances"] if arns else []
    seen = [(ci.get("ec2InstanceId"), ci.get("status"), ci.get("agentConnected")) for ci in described]
    evidence.add(f"container instances of {aws_names.GPU_CLUSTER} (EC2 id, status, agentConnected)", seen)
    ready = [ci for ci in described if ci.get("status") == "ACTIVE" and ci.get("agentConnected")]
    assert ready, (
        f"ECS cluster {aws_names.GPU_CLUSTER}: expected at least 1 ACTIVE container instance with its ECS agent connected"
        f" (the GPU worker can be placed nowhere else), got {seen or 'no container instances'}"
    )
