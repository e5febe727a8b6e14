"""Faults of the Entity & Permissions Core (seed 004): its messaging and task role broken through the
AWS APIs an operator's mistake would use, and its containers killed or hung the way an incident
leaves them (an OOM kill of the non-essential audit worker, a hung process). Each heal puts back what
the manifests say, or lets ECS replace the task."""

from __future__ import annotations

import signal
from typing import Any, Callable

import httpx

from filot_contract import aws_names
from filot_gate.manifests import load_messaging
from filot_gate.messaging import queue_arn, topic_arn
from sandbox.faults.aws import (
    describe_service, force_new_deployment, remove_inline_policy, restore_inline_policy, update_service)
from sandbox.faults.context import FaultContext
from sandbox.faults.model import Fault, FaultError, Saved
from sandbox.faults.processes import signal_tasks


# --- SNS, SQS and IAM ------------------------------------------------------------------------------

def _topic_arn(ctx: FaultContext, topic: str) -> str:
    return topic_arn(ctx.config.region, ctx.config.account_id, topic)


def _delete_document_topic(ctx: FaultContext) -> None:
    ctx.client("sns").delete_topic(TopicArn=_topic_arn(ctx, aws_names.EPR_DOCUMENT_TOPIC))


def _recreate_document_topic(ctx: FaultContext, _: Saved) -> None:
    topic = next(t for t in load_messaging(ctx.manifest_params())["topics"] if t["Name"] == aws_names.EPR_DOCUMENT_TOPIC)
    ctx.client("sns").create_topic(**topic)


def _audit_subscriptions(ctx: FaultContext) -> list[dict[str, Any]]:
    queue = queue_arn(ctx.config.region, ctx.config.account_id, aws_names.EPR_AUDIT_QUEUE)
    answer = ctx.client("sns").list_subscriptions_by_topic(TopicArn=_topic_arn(ctx, aws_names.EPR_AUDIT_TOPIC))
    return [s for s in answer["Subscriptions"] if s["Endpoint"] == queue]


def _unsubscribe_audit_queue(ctx: FaultContext) -> None:
    subscriptions = _audit_subscriptions(ctx)
    if not subscriptions:
        raise FaultError(f"SNS topic {aws_names.EPR_AUDIT_TOPIC}: expected a subscription of {aws_names.EPR_AUDIT_QUEUE}"
                         " to remove, found none")
    for subscription in subscriptions:
        ctx.client("sns").unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])


def _resubscribe_audit_queue(ctx: FaultContext, _: Saved) -> None:
    if not _audit_subscriptions(ctx):
        for subscription in load_messaging(ctx.manifest_params())["subscriptions"]:
            ctx.client("sns").subscribe(**subscription, ReturnSubscriptionArn=True)


def _audit_queue_url(ctx: FaultContext) -> str:
    return ctx.client("sqs").get_queue_url(QueueName=aws_names.EPR_AUDIT_QUEUE)["QueueUrl"]


def _remove_audit_queue_access_policy(ctx: FaultContext) -> None:
    ctx.client("sqs").set_queue_attributes(QueueUrl=_audit_queue_url(ctx), Attributes={"Policy": ""})


def _restore_audit_queue_access_policy(ctx: FaultContext, _: Saved) -> None:
    queue = next(q for q in load_messaging(ctx.manifest_params())["queues"] if q["QueueName"] == aws_names.EPR_AUDIT_QUEUE)
    ctx.client("sqs").set_queue_attributes(QueueUrl=_audit_queue_url(ctx), Attributes={"Policy": queue["Attributes"]["Policy"]})


def _ecs_exec(enabled: bool) -> Callable[..., None]:
    """``aws ecs update-service --[no-]enable-execute-command`` on the EPR service."""
    def update(ctx: FaultContext, _: Saved | None = None) -> None:
        update_service(ctx, "epr", enableExecuteCommand=enabled)

    return update


#: What an operator attaches to the task role when the worker "cannot read the queue": every SQS action anywhere.
SQS_FULL_ACCESS = "arn:aws:iam::aws:policy/AmazonSQSFullAccess"


def _attach_sqs_full_access(ctx: FaultContext) -> None:
    ctx.client("iam").attach_role_policy(RoleName=aws_names.EPR_TASK_ROLE, PolicyArn=SQS_FULL_ACCESS)


def _detach_sqs_full_access(ctx: FaultContext, _: Saved) -> None:
    ctx.client("iam").detach_role_policy(RoleName=aws_names.EPR_TASK_ROLE, PolicyArn=SQS_FULL_ACCESS)


def _tasks_started_without_ecs_exec(ctx: FaultContext) -> None:
    """ECS Exec off while a new deployment replaces the tasks, then on again without another one: the
    service says on, the running tasks refuse ``execute-command``."""
    _ecs_exec(False)(ctx)
    force_new_deployment(ctx, "epr")
    _ecs_exec(True)(ctx)


# --- security groups ---------------------------------------------------------------------------------

#: What an operator opens "just to test": the API's port to the internet, and every outbound port.
OPEN_API_PORT = {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
                 "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "opened by hand (sandbox fault)"}]}
OPEN_EGRESS = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "opened by hand (sandbox fault)"}]}
TASKS_GROUP = aws_names.EPR_TASKS_SECURITY_GROUP


def _tasks_group_id(ctx: FaultContext) -> str:
    """The group the EPR service puts its tasks in (its awsvpcConfiguration), not any group of that name."""
    network = (describe_service(ctx, "epr").get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
    groups = network.get("securityGroups", [])
    found = ctx.client("ec2").describe_security_groups(GroupIds=groups)["SecurityGroups"] if groups else []
    ours = [g["GroupId"] for g in found if g["GroupName"] == TASKS_GROUP]
    if not ours:
        raise FaultError(f"ECS service {aws_names.EPR_SERVICE}: expected its tasks in security group {TASKS_GROUP}, found {groups or 'none'}")
    return ours[0]


def _change_rule(action: str, direction: str, permission: dict[str, Any]) -> Callable[..., None]:
    """``authorize`` or ``revoke`` one ``ingress`` or ``egress`` rule of the EPR tasks' group."""
    def change(ctx: FaultContext, _: Saved | None = None) -> None:
        call = getattr(ctx.client("ec2"), f"{action}_security_group_{direction}")
        call(GroupId=_tasks_group_id(ctx), IpPermissions=[permission])

    return change


# --- the EPR task's containers ----------------------------------------------------------------------

def _worker_pids(ctx: FaultContext) -> list[int]:
    pids = [t["sidecars"][aws_names.EPR_WORKER_CONTAINER]["pid"] for t in ctx.tasks("epr")
            if aws_names.EPR_WORKER_CONTAINER in t.get("sidecars", {})]
    if not pids:
        raise FaultError(f"ECS service {aws_names.EPR_SERVICE}: expected a task with a {aws_names.EPR_WORKER_CONTAINER}"
                         " container, found none")
    return pids


def _worker_states(ctx: FaultContext) -> list[Any]:
    return [t["sidecars"][aws_names.EPR_WORKER_CONTAINER]["exitCode"] for t in ctx.tasks("epr")]


def _kill_audit_worker(ctx: FaultContext) -> None:
    pids = _worker_pids(ctx)
    ctx.keep({"tasks": [t["task"] for t in ctx.tasks("epr")]})
    signal_tasks(pids, signal.SIGKILL)
    ctx.wait(lambda: _worker_states(ctx), lambda codes: all(code is not None for code in codes),
             f"every {aws_names.EPR_WORKER_CONTAINER} container STOPPED (exit code 137)")


def _replace_epr_tasks(ctx: FaultContext, saved: Saved) -> None:
    """ECS never restarts a container of a running task: stop the tasks, the service starts new ones."""
    cluster, service, _, _ = aws_names.SERVICES["epr"]
    live = {t["task"] for t in ctx.tasks("epr")}
    for task in set(saved.get("tasks", [])) & live:
        ctx.client("ecs").stop_task(cluster=cluster, task=task, reason="sandbox fault: replace the task")
    ctx.wait(lambda: {t["task"] for t in ctx.tasks("epr")}, lambda ids: not ids & set(saved.get("tasks", [])),
             "the EPR tasks replaced")
    ctx.wait_stable("epr")


def _freeze_audit_worker(ctx: FaultContext) -> None:
    signal_tasks(ctx.keep({"pids": _worker_pids(ctx)})["pids"], signal.SIGSTOP)


def _thaw(ctx: FaultContext, saved: Saved) -> None:
    signal_tasks(saved.get("pids", []), signal.SIGCONT)


def _epr_healthz(ctx: FaultContext) -> int:
    try:
        return httpx.get(f"{ctx.config.epr_api_url}{aws_names.EPR_HEALTH_CHECK_PATH}", timeout=5).status_code
    except httpx.HTTPError:
        return 0


def _freeze_epr_api(ctx: FaultContext) -> None:
    signal_tasks(ctx.keep({"pids": [t["pid"] for t in ctx.tasks("epr")]})["pids"], signal.SIGSTOP)
    ctx.wait(lambda: _epr_healthz(ctx), lambda status: status == 503,
             f"the EPR load balancer answering 503 (no healthy task) at {ctx.config.epr_api_url}",
             describe=lambda status: f"HTTP {status or 'no answer'}")


def _thaw_epr_api(ctx: FaultContext, saved: Saved) -> None:
    _thaw(ctx, saved)
    ctx.wait(lambda: _epr_healthz(ctx), lambda status: status == 200, f"EPR {aws_names.EPR_HEALTH_CHECK_PATH} 200 again",
             describe=lambda status: f"HTTP {status or 'no answer'}")


FAULTS = [
    Fault("document-topic-missing", f"SNS topic {aws_names.EPR_DOCUMENT_TOPIC} deleted",
          f"preflight test_sns_topic_exists[{aws_names.EPR_DOCUMENT_TOPIC}]", _delete_document_topic,
          _recreate_document_topic),
    Fault("audit-queue-unsubscribed", f"{aws_names.EPR_AUDIT_QUEUE} unsubscribed from SNS topic {aws_names.EPR_AUDIT_TOPIC}",
          "preflight test_audit_queue_is_subscribed_to_the_audit_topic", _unsubscribe_audit_queue, _resubscribe_audit_queue),
    Fault("audit-queue-closed-to-the-topic", f"the access policy of {aws_names.EPR_AUDIT_QUEUE} removed: SNS may not deliver",
          "preflight test_audit_queue_lets_the_audit_topic_deliver", _remove_audit_queue_access_policy,
          _restore_audit_queue_access_policy),
    Fault("epr-task-role-without-sqs", f"inline policy {aws_names.EPR_QUEUE_POLICY} removed from IAM role"
          f" {aws_names.EPR_TASK_ROLE}", "preflight test_epr_task_role_may_consume_the_audit_queue_and_publish_document_events",
          remove_inline_policy(aws_names.EPR_TASK_ROLE, aws_names.EPR_QUEUE_POLICY),
          restore_inline_policy(aws_names.EPR_TASK_ROLE, aws_names.EPR_QUEUE_POLICY)),
    Fault("epr-task-role-sqs-full-access", f"AWS managed policy AmazonSQSFullAccess attached to IAM role"
          f" {aws_names.EPR_TASK_ROLE} (every SQS action on every queue)",
          f"preflight test_iam_role_grants_no_more_than_the_manifest_declares[{aws_names.EPR_TASK_ROLE}]",
          _attach_sqs_full_access, _detach_sqs_full_access),
    Fault("ecs-exec-disabled", f"{aws_names.EPR_SERVICE}: enableExecuteCommand turned off (update-service)",
          "infra test_ecs_exec_can_open_a_shell_in_epr_tasks", _ecs_exec(False), _ecs_exec(True)),
    Fault("ecs-exec-on-without-new-tasks", f"{aws_names.EPR_SERVICE}: ECS Exec turned on after its tasks started,"
          " without --force-new-deployment: the running tasks refuse execute-command",
          "infra test_ecs_exec_can_open_a_shell_in_epr_tasks", _tasks_started_without_ecs_exec,
          lambda ctx, _: force_new_deployment(ctx, "epr")),
    Fault("epr-task-role-without-ecs-exec", f"inline policy {aws_names.EPR_EXEC_POLICY} removed from IAM role"
          f" {aws_names.EPR_TASK_ROLE}: the SSM agent cannot open its channels",
          "infra test_ecs_exec_can_open_a_shell_in_epr_tasks",
          remove_inline_policy(aws_names.EPR_TASK_ROLE, aws_names.EPR_EXEC_POLICY),
          restore_inline_policy(aws_names.EPR_TASK_ROLE, aws_names.EPR_EXEC_POLICY)),
    Fault("epr-api-open-to-the-internet", f"security group {TASKS_GROUP}: tcp 8080 opened to 0.0.0.0/0",
          "preflight test_epr_api_takes_port_8080_from_its_load_balancer_only",
          _change_rule("authorize", "ingress", OPEN_API_PORT), _change_rule("revoke", "ingress", OPEN_API_PORT)),
    Fault("epr-egress-open", f"security group {TASKS_GROUP}: all outbound traffic allowed to 0.0.0.0/0",
          "preflight test_epr_tasks_reach_out_only_to_postgres_redis_and_https",
          _change_rule("authorize", "egress", OPEN_EGRESS), _change_rule("revoke", "egress", OPEN_EGRESS)),
    Fault("audit-worker-killed", f"the {aws_names.EPR_WORKER_CONTAINER} container killed (SIGKILL, exit 137 as an OOM kill);"
          " not essential, so the EPR task keeps running on its API", "infra test_audit_worker_container_runs_in_every_epr_task",
          _kill_audit_worker, _replace_epr_tasks),
    Fault("audit-worker-frozen", f"the {aws_names.EPR_WORKER_CONTAINER} process frozen (SIGSTOP): RUNNING, consuming nothing",
          "e2e test_audit_event_published_to_the_audit_topic_is_consumed_by_the_worker", _freeze_audit_worker, _thaw),
    Fault("epr-api-unhealthy", "every EPR API container frozen (SIGSTOP): /healthz times out, its load balancer answers 503",
          "infra test_every_task_of_the_service_is_a_healthy_target[epr]; e2e"
          " test_epr_healthz_answers_ok_through_the_load_balancer", _freeze_epr_api, _thaw_epr_api),
]
