"""GPU (seed 000 section 3 "Task scheduled on the g5.xlarge instance"): every worker task runs on an
EC2 container instance of a g5 type that has a GPU: describe-tasks -> containerInstanceArn ->
describe-container-instances (attribute ``ecs.instance-type``, registered resource ``GPU``)."""

from __future__ import annotations

from fnmatch import fnmatch

import pytest

from filot_contract import aws_names
from filot_gate.checks import service_name, task_id, tasks

pytestmark = pytest.mark.gpu

SERVICE = "ocr-gpu"
DEFAULT_INSTANCE_TYPES = "g5.*"


def placement(ecs, running: list[dict]) -> dict[str, dict]:
    """container instance ARN -> its instance type and GPU ids, for the instances the tasks run on."""
    arns = sorted({t["containerInstanceArn"] for t in running if t.get("containerInstanceArn")})
    described = ecs.describe_container_instances(cluster=aws_names.GPU_CLUSTER, containerInstances=arns)["containerInstances"] if arns else []
    return {
        ci["containerInstanceArn"]: {
            "ec2InstanceId": ci.get("ec2InstanceId"),
            "instanceType": next((a.get("value") for a in ci.get("attributes", []) if a["name"] == "ecs.instance-type"), None),
            "gpus": next((r.get("stringSetValue", []) for r in ci.get("registeredResources", []) if r["name"] == "GPU"), []),
        }
        for ci in described
    }


def test_worker_tasks_run_on_a_g5_instance_with_a_gpu(ecs, settings, evidence):
    wanted = settings.profile.get("gpu.instance_types", DEFAULT_INSTANCE_TYPES)
    running = tasks(ecs, SERVICE)
    assert running, f"{service_name(SERVICE)}: expected running worker tasks, found none"
    instances = placement(ecs, running)
    evidence.add("worker tasks and their container instances", [
        {"task": task_id(t), "launchType": t.get("launchType"), "containerInstance": t.get("containerInstanceArn"),
         **instances.get(t.get("containerInstanceArn"), {})} for t in running])
    problems = []
    for task in running:
        instance = instances.get(task.get("containerInstanceArn"))
        if instance is None:
            problems.append(f"task {task_id(task)} runs on no EC2 container instance (launch type {task.get('launchType')})")
        elif not fnmatch(instance["instanceType"] or "", wanted):
            problems.append(f"task {task_id(task)} runs on {instance['ec2InstanceId']} of type {instance['instanceType']}")
        elif not instance["gpus"]:
            problems.append(f"task {task_id(task)} runs on {instance['ec2InstanceId']} ({instance['instanceType']}),"
                            " which registered no GPU resource")
    assert not problems, (
        f"{service_name(SERVICE)}: expected every task on a {wanted} container instance with a GPU; {'; '.join(problems)}"
    )
