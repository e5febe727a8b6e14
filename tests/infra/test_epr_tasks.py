"""Infra: EPR's audit worker runs beside its API in every task of this deployment (seed 004
"Architecture Overview"). The worker container is not essential: when it exits, ECS keeps the task
running on the API alone, the service stays at running == desired, and audit events pile up in the
queue unseen (seed 004 "Deploy Without Worker", Option A). Only the container's own state shows it."""

from __future__ import annotations

import pytest

from filot_contract import aws_names
from filot_gate.checks import deployed_arn, service_name, task_id, tasks

pytestmark = pytest.mark.infra

WORKER = aws_names.EPR_WORKER_CONTAINER


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


def _state(container: dict) -> str:
    exit_code = container.get("exitCode")
    return container.get("lastStatus", "no status") + (f", exit code {exit_code}" if exit_code is not None else "")
