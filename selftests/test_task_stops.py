"""How the gate tells a crashed task from a replaced one (``filot_gate.task_stops``), with the codes and
reasons ECS gives. The sandbox's agent gives only some of them (an exited essential container, a task
that could not start, a scale-in, a replaced deployment, stop-task); the rest are ECS's own words."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from filot_gate.task_stops import deployment_start, describe, failed_since, is_failure

REVISION = "arn:aws:ecs:ap-southeast-3:123456789012:task-definition/filot-backend-task:7"
BEGAN = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


def stopped(code: str, reason: str, minutes_after: float = 5, revision: str = REVISION, **containers: int) -> dict:
    return {"taskArn": f"arn:aws:ecs:ap-southeast-3:123456789012:task/filot-backend-cluster/{code[:4]}{minutes_after:g}",
            "taskDefinitionArn": revision, "stopCode": code, "stoppedReason": reason,
            "stoppedAt": BEGAN + timedelta(minutes=minutes_after),
            "containers": [{"name": name, "exitCode": exit_code} for name, exit_code in containers.items()]}


@pytest.mark.parametrize("code, reason, failed", [
    ("EssentialContainerExited", "Essential container in task exited", True),
    ("TaskFailedToStart", "ResourceInitializationError: unable to pull secrets or registry auth", True),
    ("ServiceSchedulerInitiated", "Task failed ELB health checks in (target-group arn:aws:elasticloadbalancing:...)", True),
    ("ServiceSchedulerInitiated", "Task failed container health checks", True),
    ("ServiceSchedulerInitiated", "Scaling activity initiated by (deployment ecs-svc/1234567890)", False),
    ("UserInitiated", "Task stopped by user", False),
    ("SpotInterruption", "Your Spot Task was interrupted.", False),
    ("TerminationNotice", "Task stopped because the underlying EC2 instance is being retired", False),
], ids=["essential-exit", "failed-to-start", "elb-health", "container-health", "scale-in", "stop-task", "spot", "retirement"])
def test_a_failure_is_told_from_a_decision(code, reason, failed):
    assert is_failure(stopped(code, reason)) is failed


def test_only_failures_of_the_revision_since_its_deployment_began_count():
    crashes = [stopped("EssentialContainerExited", "exited", 5, api=137),
               stopped("EssentialContainerExited", "exited", -5),  # before this deployment (an earlier one of the revision)
               stopped("EssentialContainerExited", "exited", 6, revision=REVISION.replace(":7", ":6")),
               stopped("ServiceSchedulerInitiated", "Scaling activity initiated by (deployment ecs-svc/1)", 7)]
    assert [t["stoppedAt"] for t in failed_since(crashes, REVISION, BEGAN)] == [BEGAN + timedelta(minutes=5)]


def test_the_newest_deployment_of_the_revision_is_where_counting_starts():
    service = {"deployments": [{"taskDefinition": REVISION, "createdAt": BEGAN + timedelta(hours=1)},
                               {"taskDefinition": REVISION.replace(":7", ":6"), "createdAt": BEGAN + timedelta(hours=2)},
                               {"taskDefinition": REVISION, "createdAt": BEGAN}]}
    assert deployment_start(service, REVISION) == BEGAN + timedelta(hours=1)
    assert deployment_start({"deployments": []}, REVISION) is None


def test_a_stopped_task_is_described_with_its_exit_codes():
    line = describe(stopped("EssentialContainerExited", "Essential container in task exited", 5, api=137, sidecar=0))
    assert line == "Esse5 stopped 2026-11-23T10:05:00+00:00: EssentialContainerExited: Essential container in task exited (api exit 137)"
