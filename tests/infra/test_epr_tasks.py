"""Infra: EPR's audit worker runs beside its API in every task of this deployment (seed 004
"Architecture Overview"). The worker container is not essential: when it exits, ECS keeps the task
running on the API alone, the service stays at running == desired, and audit events pile up in the
queue unseen (seed 004 "Deploy Without Worker", Option A). Only the container's own state shows it.

And an on-call engineer can open a shell in an EPR task, as seed 004's "API Container Unhealthy" steps
do with ``aws ecs execute-command`` ("Enable ECS Exec for debugging")."""

from __future__ import annotations

import pytest

from filot_contract import aws_names
from filot_gate.checks import describe_service, deployed_arn, service_name, task_id, tasks, unless_absent
from filot_gate.iam_policy import refused, role_name, role_policies

pytestmark = pytest.mark.infra

WORKER = aws_names.EPR_WORKER_CONTAINER
#: What the task role must allow for ``aws ecs execute-command``: the SSM agent in the task opens these channels.
ECS_EXEC_ACTIONS = ("ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                    "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel")


def test_audit_worker_container_runs_in_every_epr_task(ecs, deploy_record, evidence):
    expected = deployed_arn(deploy_record, "epr")
    ours = [t for t in tasks(ecs, "epr") if t["taskDefinitionArn"] == expected]
    assert ours, f"{service_name('epr')}: expected running tasks of {expected.rsplit('/', 1)[-1]}, found none"
    workers = {task_id(t): next((c for c in t.get("containers", []) if c["name"] == WORKER), None) for t in ours}
    evidence.add("containers of each task (aws ecs describe-tasks)", {
        tid: [{k: c.get(k) for k in ("name", "lastStatus", "exitCode", "reason")} for c in t.get("containers", [])]
        for tid, t in ((task_id(t), t) for t in ours)})
    not_running = [f"{tid} ({'no such container' if c is None else _state(c)})"
                   for tid, c in workers.items() if c is None or c.get("lastStatus") != "RUNNING"]
    assert not not_running, (
        f"{service_name('epr')}: expected container {WORKER} RUNNING in every task of {expected.rsplit('/', 1)[-1]}"
        f" (it is not essential, so the task runs on without it and {aws_names.EPR_AUDIT_QUEUE} is not consumed);"
        f" not running in: {'; '.join(not_running)}. Its log: aws logs tail {aws_names.EPR_LOG_GROUP}"
        f" --log-stream-name-prefix ecs/{WORKER}/"
    )


def test_ecs_exec_can_open_a_shell_in_epr_tasks(ecs, target, deploy_record, evidence):
    expected = deployed_arn(deploy_record, "epr")
    service = describe_service(ecs, "epr")
    where = service_name("epr")
    assert service.get("enableExecuteCommand") is True, (
        f"{where}: expected enableExecuteCommand true, got {service.get('enableExecuteCommand')}; aws ecs"
        f" execute-command --container {aws_names.EPR_CONTAINER} is refused. Turn it on for new tasks:"
        " aws ecs update-service --enable-execute-command --force-new-deployment"
    )
    without = [task_id(t) for t in tasks(ecs, "epr") if t["taskDefinitionArn"] == expected and not t.get("enableExecuteCommand")]
    assert not without, (
        f"{where}: expected every task of {expected.rsplit('/', 1)[-1]} started with ECS Exec; tasks {', '.join(without)}"
        " started before it was turned on and refuse execute-command: aws ecs update-service --force-new-deployment"
    )
    definition = ecs.describe_task_definition(taskDefinition=expected)["taskDefinition"]
    assert definition.get("taskRoleArn"), f"{where}: task definition {expected} has no task role"
    role = role_name(definition["taskRoleArn"])
    policies = unless_absent(lambda: role_policies(target.client("iam"), role), "NoSuchEntity")
    assert policies is not None, f"{where}: task role {role} expected to exist (aws iam get-role), got NoSuchEntity"
    evidence.add(f"policies of task role {role}", policies)
    missing = [action for action, _ in refused(policies.values(), [(action, "*") for action in ECS_EXEC_ACTIONS])]
    assert not missing, (
        f"{where}: expected task role {role} ({', '.join(policies) or 'no policies'}) to allow {', '.join(missing)};"
        " without them the task's SSM agent cannot open the session and execute-command fails"
        f" (aws iam get-role-policy --role-name {role} --policy-name {aws_names.EPR_EXEC_POLICY})"
    )


def _state(container: dict) -> str:
    exit_code = container.get("exitCode")
    return container.get("lastStatus", "no status") + (f", exit code {exit_code}" if exit_code is not None else "")
