"""Plan the undo of a deploy (seed 000 section 8, DESIGN.md section 4), as AWS calls.

Two strategies: ``previous-revision`` points the service back at the revision live before the deploy
(from the deploy record, else the newest older ACTIVE revision of the family); ``scale-to-zero``
stops the GPU worker (desiredCount 0) so its node can be diagnosed. Plans re-read the live service,
so a rollback that has nothing to undo plans no call, and one against a state nobody expected is
refused rather than guessed at.
"""

from __future__ import annotations

from typing import Any, Literal, Mapping

from filot_gate.deploy.calls import AwsCall
from filot_gate.deploy.errors import RollbackRefused
from filot_gate.deploy.record import ServiceRecord
from filot_gate.deploy.state import describe_service, family_of, previous_revision

Strategy = Literal["previous-revision", "scale-to-zero"]
STRATEGIES: tuple[Strategy, ...] = ("previous-revision", "scale-to-zero")

#: What planning a rollback asks ECS (IAM action -> resource): the live service and older revisions of its
#: family. ``{service}`` is the service's ARN, ``{tasks}`` the pattern of its cluster's task ARNs.
PLAN_PERMISSIONS = {"ecs:DescribeServices": "{service}", "ecs:ListTaskDefinitions": "*"}
#: What executing it adds: the UpdateService of either strategy, and, waiting for stability, the service's
#: stopped tasks (why they stopped).
EXECUTE_PERMISSIONS = {"ecs:UpdateService": "{service}", "ecs:ListTasks": "*", "ecs:DescribeTasks": "{tasks}"}


def permissions_needed(region: str, account_id: str, cluster: str, service: str, execute: bool) -> list[tuple[str, str]]:
    """The (action, resource) pairs the rollback of one service needs: planning it, and executing it too
    when ``execute`` (rollback mode auto)."""
    arns = {"service": f"arn:aws:ecs:{region}:{account_id}:service/{cluster}/{service}",
            "tasks": f"arn:aws:ecs:{region}:{account_id}:task/{cluster}/*"}
    needed = {**PLAN_PERMISSIONS, **(EXECUTE_PERMISSIONS if execute else {})}
    return [(action, resource.format(**arns)) for action, resource in needed.items()]


def plan_rollback(
    ecs: Any, service_record: ServiceRecord | Mapping[str, Any], strategy: Strategy = "previous-revision"
) -> list[AwsCall]:
    """The calls that undo ``service_record``'s deploy; empty when the live state needs no undo.

    ``service_record`` is a :class:`ServiceRecord` or its JSON form from the deploy record.
    """
    rec = _as_record(service_record)
    if strategy == "scale-to-zero":
        return plan_scale_to_zero(ecs, rec)
    if strategy != "previous-revision":
        raise ValueError(f"unknown rollback strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
    live = describe_service(ecs, rec.cluster, rec.service)["taskDefinition"]
    target = rec.previous_task_definition_arn or previous_revision(ecs, rec.family, rec.task_definition_arn)
    if target is None:
        raise RollbackRefused(f"{rec.service}: no revision of {rec.family} older than {rec.task_definition_arn} "
                              f"is ACTIVE, so there is nothing to roll back to")
    if family_of(target) != rec.family:
        raise RollbackRefused(f"{rec.service}: rollback target {target} is not a revision of {rec.family}")
    if live == target:
        return []
    if live != rec.task_definition_arn:
        raise RollbackRefused(
            f"{rec.service} runs {live}, which is neither the deployed {rec.task_definition_arn} nor the "
            f"rollback target {target}; someone else changed it, so it is left alone")
    return [AwsCall("ecs", "UpdateService",
                    {"cluster": rec.cluster, "service": rec.service, "taskDefinition": target},
                    region=ecs.meta.region_name)]


def plan_scale_to_zero(ecs: Any, service_record: ServiceRecord | Mapping[str, Any]) -> list[AwsCall]:
    """Stop every task of the service (seed 000: "scale desired-count down to 0, diagnose instance")."""
    rec = _as_record(service_record)
    live = describe_service(ecs, rec.cluster, rec.service)
    if live.get("desiredCount") == 0:
        return []
    if live["taskDefinition"] != rec.task_definition_arn:
        raise RollbackRefused(
            f"{rec.service} runs {live['taskDefinition']}, not the deployed {rec.task_definition_arn}; scaling it "
            f"to zero would stop a revision this deploy did not make, so it is left alone")
    return [AwsCall("ecs", "UpdateService",
                    {"cluster": rec.cluster, "service": rec.service, "desiredCount": 0},
                    region=ecs.meta.region_name)]


def expected_after(calls: list[AwsCall]) -> dict[str, Any]:
    """What ``wait_for_stable`` should wait for after ``calls``: the revision and/or desired count set."""
    expected: dict[str, Any] = {}
    for call in calls:
        if "taskDefinition" in call.params:
            expected["task_definition"] = call.params["taskDefinition"]
        if "desiredCount" in call.params:
            expected["desired_count"] = call.params["desiredCount"]
    return expected


def _as_record(service_record: ServiceRecord | Mapping[str, Any]) -> ServiceRecord:
    if isinstance(service_record, ServiceRecord):
        return service_record
    return ServiceRecord.from_json(service_record)
