"""The real gate against a real (private) sandbox: GO when healthy; a broken component fails exactly
its gate, blocks the later ones, and the rollback names (plan) or restores (auto) the right revision."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from filot_contract import aws_names
from selftests.sandbox_fixture import REPO, start_private_sandbox, stop_private_sandbox

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def sandbox():
    box = start_private_sandbox()
    yield box
    stop_private_sandbox(box)


def run_gate(sandbox, tmp_path: Path, *args: str, rollback: str = "plan") -> tuple[subprocess.CompletedProcess, dict]:
    profile = sandbox.profile(tmp_path / "selftest.toml", rollback=rollback)
    reports = tmp_path / "reports"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", f"--target={profile}", f"--gate-reports={reports}",
         f"--html={reports}/gate-report.html", f"--junitxml={reports}/junit.xml",
         f"--alluredir={reports}/allure-results", "-p", "no:logging", "-q", *args],
        cwd=REPO, env=sandbox.env, capture_output=True, text=True, timeout=600,
    )
    summary = reports / "summary.json"
    assert summary.exists(), f"the gate wrote no summary (exit {result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result, json.loads(summary.read_text())


def test_healthy_sandbox_gets_go_with_four_passed_gates(sandbox, tmp_path):
    result, summary = run_gate(sandbox, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert summary["verdict"] == "go"
    assert {name: gate["status"] for name, gate in summary["gates"].items()} == dict.fromkeys(
        ("preflight", "infra", "gpu", "e2e"), "passed")
    accepted_by = json.loads((sandbox.home / "deploy-record.json").read_text()).get("acceptedBy")
    assert accepted_by == summary["runId"], f"deploy record: expected acceptedBy {summary['runId']} after a go, got {accepted_by!r}"


def test_redis_eviction_policy_fails_preflight_and_blocks_the_rest(sandbox, tmp_path):
    client = sandbox.redis()
    client.config_set("maxmemory-policy", "allkeys-lru")
    try:
        result, summary = run_gate(sandbox, tmp_path)
    finally:
        client.config_set("maxmemory-policy", "noeviction")
    assert result.returncode == 1
    assert "Redis maxmemory-policy: expected noeviction (queue keys must never be evicted), got allkeys-lru" in result.stdout
    failures = summary["gates"]["preflight"]["failures"]
    assert [f["test"].rsplit("::", 1)[-1] for f in failures] == ["test_redis_never_evicts_queue_keys"]
    assert [summary["gates"][g]["status"] for g in ("infra", "gpu", "e2e")] == ["blocked"] * 3


def test_scaled_down_worker_fails_infra_and_the_plan_names_the_previous_revisions(sandbox, tmp_path):
    record_path = sandbox.home / "deploy-record.json"
    fresh = {k: v for k, v in json.loads(record_path.read_text()).items() if k != "acceptedBy"}
    record_path.write_text(json.dumps(fresh))  # judged right after its deploy: the first test's go accepted it
    ecs = sandbox.aws("ecs")
    ecs.update_service(cluster="filot-ocr-gpu-cluster", service="filot-ocr-gpu-service", desiredCount=0)
    try:
        result, summary = run_gate(sandbox, tmp_path)
    finally:
        ecs.update_service(cluster="filot-ocr-gpu-cluster", service="filot-ocr-gpu-service", desiredCount=1)
    assert result.returncode == 1
    assert summary["verdict"] == "no-go"
    assert summary["gates"]["preflight"]["status"] == "passed"
    assert summary["gates"]["infra"]["status"] == "failed"
    assert all("ocr-gpu" in f["test"] for f in summary["gates"]["infra"]["failures"]), summary["gates"]["infra"]["failures"]
    assert [summary["gates"][g]["status"] for g in ("gpu", "e2e")] == ["blocked", "blocked"]
    record = json.loads((sandbox.home / "deploy-record.json").read_text())
    planned = {a["service"]: a for a in summary["rollback"]["actions"]}
    for key in aws_names.SERVICES:  # EPR too: seed 004 rolls back by task-definition revision
        previous = record["services"][key]["previousTaskDefinitionArn"]
        assert planned[key]["outcome"] == "planned"
        # the account id is configuration ("masked": false in the manifest): the plan can be pasted as it is
        assert planned[key]["calls"][0].split("--task-definition ")[1].split()[0] == previous, planned[key]
    live = ecs.describe_services(cluster="filot-backend-cluster", services=["filot-backend-service"])["services"][0]
    assert live["taskDefinition"] == record["services"]["backend"]["taskDefinitionArn"], "plan mode changed the service"


def test_auto_rollback_after_a_wrong_deploy_restores_the_previous_revision_and_its_processes(sandbox, tmp_path):
    deployed = sandbox.cli("deploy", "--service", "backend", "--set", "MAX_UPLOAD_BYTES=2048")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    record = json.loads((sandbox.home / "deploy-record.json").read_text())["services"]["backend"]
    result, summary = run_gate(sandbox, tmp_path, rollback="auto")
    assert summary["verdict"] == "no-go"
    assert summary["gates"]["infra"]["status"] == "failed", result.stdout[-3000:]
    messages = "\n".join(f["message"] for f in summary["gates"]["infra"]["failures"])
    assert "environment MAX_UPLOAD_BYTES: manifest (not set), deployed '2048'" in messages, messages
    (action,) = summary["rollback"]["actions"]
    assert (action["service"], action["outcome"]) == ("backend", "rolled-back"), action
    ecs = sandbox.aws("ecs")
    live = ecs.describe_services(cluster="filot-backend-cluster", services=["filot-backend-service"])["services"][0]
    assert live["taskDefinition"] == record["previousTaskDefinitionArn"]
    status = json.loads((sandbox.home / "run" / "controller.json").read_text())["services"]["backend"]
    assert status["taskDefinition"] == record["previousTaskDefinitionArn"]
    for task in status["tasks"]:
        environ = Path(f"/proc/{task['pid']}/environ").read_bytes().decode(errors="replace").split("\0")
        assert f"FILOT_TASK_DEFINITION_ARN={record['previousTaskDefinitionArn']}" in environ, task
    assert sandbox.credentials["JWT_SECRET"] not in result.stdout, "the JWT secret leaked into the terminal"
    status_lines = sandbox.cli("status").stdout
    running, recorded = (arn.rsplit("/", 1)[-1] for arn in (record["previousTaskDefinitionArn"], record["taskDefinitionArn"]))
    assert f"backend      runs {running}, the deploy record says {recorded} (rolled back" in status_lines, status_lines
