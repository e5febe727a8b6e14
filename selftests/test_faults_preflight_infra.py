"""Every preflight and infra check can fail: for each gate test, break the matching thing in a private
sandbox, run that gate, and see exactly that test fail with its message and the verdict no-go; then heal.

One sandbox serves the whole module (faults are injected and healed one at a time, in this order);
each gate run is narrowed to its gate (``-m preflight tests/preflight`` or ``-m infra tests/infra``)
and takes a few seconds. Faults come from ``python -m sandbox fault NAME`` (healed with
``python -m sandbox heal NAME``); a fault the sandbox does not offer yet is skipped with that reason.
A check whose fault is a bad deploy uses ``python -m sandbox deploy`` and heals by deploying the
manifest again under the same deploy run, as an operator would.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from selftests.sandbox_fixture import REPO, PrivateSandbox, start_private_sandbox, stop_private_sandbox

pytestmark = pytest.mark.sandbox

SUBNET_BASE = 51
#: Deadline of the start-up-lines check in these runs: long enough for log delivery on a healthy
#: sandbox, short enough that a fault which removes the lines costs seconds.
LOG_DELIVERY_S = 15


@dataclass(frozen=True)
class Fault:
    """A way to break one check, and what the gate must then say."""

    gate: str
    #: ``python -m sandbox`` arguments that break it, and those that undo it.
    inject: tuple[str, ...]
    heal: tuple[str, ...]
    #: node ids (relative to tests/<gate>/) that must fail, and nothing else; ``*`` matches anything.
    fails: tuple[str, ...]
    #: text the failure messages must contain
    message: str
    #: how the report names a fault that is not a ``python -m sandbox fault``
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.inject[1]


def matches(nodeid: str, pattern: str) -> bool:
    """``*`` is a wildcard; everything else, brackets of parameter ids included, is literal."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), nodeid) is not None


def named(name: str, gate: str, fails: tuple[str, ...], message: str) -> Fault:
    return Fault(gate, ("fault", name), ("heal", name), fails, message)


PLAINTEXT_SECRET = ("deploy", "--service", "backend", "--set", "JWT_SECRET=set-in-plain-environment", "--no-wait")
REDEPLOY_BACKEND = ("deploy", "--service", "backend")

FAULTS = [
    # preflight: secrets
    named("missing-secret", "preflight", ("test_secrets.py::test_secret_exists_and_passes_the_manifests_rules[*]",),
          "expected to exist in Secrets Manager"),
    named("default-jwt-secret", "preflight", ("test_secrets.py::test_jwt_secret_is_long_and_not_a_known_default",
                                              "test_secrets.py::test_secret_exists_and_passes_the_manifests_rules[*jwt-secret]"),
          "JWT_SECRET"),
    # preflight: Redis
    named("redis-not-tls", "preflight", ("test_redis.py::test_redis_url_uses_tls_scheme",
                                         "test_secrets.py::test_secret_exists_and_passes_the_manifests_rules[*redis]",
                                         "test_redis.py::test_redis_answers_over_tls_and_requires_auth"),
          "expected scheme rediss://"),
    named("redis-no-auth", "preflight", ("test_redis.py::test_redis_answers_over_tls_and_requires_auth",),
          "answered PING without a password"),
    named("redis-eviction-policy", "preflight", ("test_redis.py::test_redis_never_evicts_queue_keys",),
          "expected noeviction"),
    named("redis-aof-off", "preflight", ("test_redis.py::test_redis_persists_with_append_only_file",), "expected yes"),
    named("redis-keyspace-events-off", "preflight",
          ("test_redis.py::test_redis_publishes_the_keyspace_events_the_gate_follows",), "notify-keyspace-events"),
    # preflight: database
    named("database-unreachable", "preflight", ("test_database.py::test_database_answers_with_the_secrets_credentials",),
          "expected to accept a connection"),
    named("migration-missing", "preflight", ("test_database.py::test_every_migration_of_the_release_is_applied",),
          "pending"),
    named("table-missing", "preflight", ("test_database.py::test_core_tables_exist_with_primary_keys",
                                         "test_database.py::test_foreign_keys_tie_documents_to_users_results_and_reviews"),
          "missing"),
    named("foreign-key-missing", "preflight",
          ("test_database.py::test_foreign_keys_tie_documents_to_users_results_and_reviews",), "missing"),
    named("status-check-missing", "preflight",
          ("test_database.py::test_document_status_is_constrained_to_the_contracts_statuses",), "verification_status"),
    # preflight: AWS
    named("ecr-repository-missing", "preflight", ("test_ecr.py::test_ecr_repository_exists[*]",
                                                  "test_ecr.py::test_deployed_image_digest_exists_in_ecr[*]"),
          "expected to exist"),
    named("image-missing", "preflight", ("test_ecr.py::test_deployed_image_digest_exists_in_ecr[*]",),
          "expected the image to exist"),
    named("cluster-inactive", "preflight", ("test_clusters.py::test_ecs_cluster_is_active[*]",), "expected"),
    named("asg-instance-unhealthy", "preflight", ("test_asg.py::test_gpu_asg_has_an_in_service_healthy_instance",),
          "expected at least 1 InService Healthy instance"),
    named("instance-profile-missing", "preflight", ("test_asg.py::test_gpu_instances_launch_with_the_ecs_instance_profile",),
          "ecsInstanceRole"),
    named("iam-role-missing", "preflight", ("test_iam.py::test_iam_role_exists[*]",), "expected to exist"),
    # infra: services
    named("worker-scaled-to-zero", "infra", ("test_services.py::test_service_is_active_with_running_equal_to_desired[ocr-gpu]",
                                             "test_services.py::test_every_running_task_runs_the_deployed_revision[ocr-gpu]",
                                             "test_logs.py::test_every_task_of_this_deployment_logged_its_startup_line[ocr-gpu]"),
          "desiredCount is 0"),
    named("service-wrong-revision", "infra", ("test_services.py::test_service_runs_exactly_the_deployed_revision[*]",
                                              "test_services.py::test_every_running_task_runs_the_deployed_revision[*]",
                                              "test_logs.py::test_every_task_of_this_deployment_logged_its_startup_line[*]"),
          "expected task definition"),
    named("deployment-failed", "infra", ("test_services.py::test_no_deployment_failed[*]",
                                         "test_services.py::test_primary_deployment_completed[*]"),
          "FAILED"),
    named("circuit-breaker-off", "infra", ("test_services.py::test_circuit_breaker_is_enabled_with_rollback[*]",),
          "expected deploymentCircuitBreaker enable=true rollback=true"),
    # infra: ALB
    named("health-check-path-wrong", "infra",
          ("test_alb.py::test_target_group_health_check_is_the_backends_health_route",), "expected health check on /health"),
    named("target-deregistered", "infra", ("test_alb.py::test_every_backend_task_is_a_healthy_target",),
          "expected every running backend task registered"),
    named("target-unhealthy", "infra", ("test_alb.py::test_every_backend_task_is_a_healthy_target",),
          "expected every target healthy"),
    # infra: logs
    named("log-group-retention-wrong", "infra", ("test_logs.py::test_log_group_exists_with_the_retention_policy[*]",),
          "expected retention 90 days"),
    named("startup-lines-missing", "infra",
          ("test_logs.py::test_every_task_of_this_deployment_logged_its_startup_line[*]",), "expected a start-up line"),
    # infra: alarms and dashboard
    named("alarm-missing", "infra", ("test_alarms.py::test_alarm_exists_as_the_manifest_defines_it[*]",),
          "expected to exist"),
    named("alarm-wrong-threshold", "infra", ("test_alarms.py::test_alarm_exists_as_the_manifest_defines_it[*]",),
          "Threshold: expected"),
    named("alarm-firing", "infra", ("test_alarms.py::test_no_filot_alarm_is_in_alarm",), "expected no FiLot alarm in ALARM"),
    named("dashboard-missing", "infra", ("test_alarms.py::test_dashboard_exists_with_the_manifests_widgets",),
          "expected to exist"),
    # preflight: a deploy that ships a secret in plain environment (last: it redeploys the backend)
    Fault("preflight", PLAINTEXT_SECRET, REDEPLOY_BACKEND,
          ("test_manifests.py::test_deployed_task_definition_follows_the_manifest_rules[backend]",),
          "secrets JWT_SECRET set in plain environment", label="deploy-plaintext-secret"),
]


@pytest.fixture(scope="module")
def sandbox():
    box = start_private_sandbox(subnet_base=SUBNET_BASE)
    yield box
    stop_private_sandbox(box)


@pytest.fixture(scope="module")
def offered_faults(sandbox) -> set[str]:
    """The fault names ``python -m sandbox fault --list`` offers (none when the command does not exist)."""
    listed = sandbox.cli("fault", "--list", timeout=60)
    if listed.returncode != 0:
        return set()
    return {m[0] for line in listed.stdout.splitlines() if (m := re.match(r"\s*([a-z0-9][a-z0-9-]*)\b", line))}


@pytest.fixture(scope="module")
def profile(sandbox, tmp_path_factory) -> Path:
    path = sandbox.profile(tmp_path_factory.mktemp("profile") / "selftest.toml")
    path.write_text(path.read_text().replace("[deadlines]\n", f"[deadlines]\nlogs_s = {LOG_DELIVERY_S}\n"))
    return path


def sandbox_cli(sandbox: PrivateSandbox, args: tuple[str, ...]) -> subprocess.CompletedProcess:
    """``python -m sandbox ...``; deploys join the sandbox's deploy run, so the record keeps both services."""
    record = json.loads((sandbox.home / "deploy-record.json").read_text())
    env = {**sandbox.env, "FILOT_DEPLOY_RUN_ID": record["runId"]}
    return subprocess.run([sys.executable, "-m", "sandbox", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def run_gate(sandbox: PrivateSandbox, profile: Path, reports: Path, *gates: str) -> tuple[subprocess.CompletedProcess, dict]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", f"--target={profile}", f"--gate-reports={reports}",
         f"--html={reports}/gate-report.html", f"--junitxml={reports}/junit.xml",
         f"--alluredir={reports}/allure-results", "-p", "no:logging", "-q",
         "-m", " or ".join(gates), *(f"tests/{gate}" for gate in gates)],
        cwd=REPO, env=sandbox.env, capture_output=True, text=True, timeout=300,
    )
    summary = reports / "summary.json"
    assert summary.exists(), f"the gate wrote no summary (exit {result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}"
    return result, json.loads(summary.read_text())


def test_healthy_sandbox_passes_preflight_and_infra(sandbox, profile, tmp_path):
    result, summary = run_gate(sandbox, profile, tmp_path, "preflight", "infra")
    assert summary["verdict"] == "go", result.stdout[-4000:]
    assert [summary["gates"][g]["status"] for g in ("preflight", "infra")] == ["passed", "passed"]


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_fault_fails_exactly_its_check(sandbox, offered_faults, profile, tmp_path, fault):
    if fault.inject[0] == "fault" and fault.name not in offered_faults:
        pytest.skip(f"sandbox fault {fault.name} is not offered yet (python -m sandbox fault --list)")
    injected = sandbox_cli(sandbox, fault.inject)
    assert injected.returncode == 0, f"python -m sandbox {' '.join(fault.inject)}:\n{injected.stdout}\n{injected.stderr}"
    try:
        result, summary = run_gate(sandbox, profile, tmp_path, fault.gate)
    finally:
        healed = sandbox_cli(sandbox, fault.heal)
    assert healed.returncode == 0, f"python -m sandbox {' '.join(fault.heal)}:\n{healed.stdout}\n{healed.stderr}"
    gate = summary["gates"][fault.gate]
    failed = sorted(f["test"].split(f"tests/{fault.gate}/", 1)[-1] for f in gate["failures"] if f["outcome"] == "failed")
    errors = [f["test"] for f in gate["failures"] if f["outcome"] != "failed"]
    context = f"fault {fault.name}: failed {failed}, errors {errors}\n{result.stdout[-4000:]}"
    assert (summary["verdict"], gate["status"], result.returncode) == ("no-go", "failed", 1), context
    assert not errors, context
    unexpected = [t for t in failed if not any(matches(t, p) for p in fault.fails)]
    unmatched = [p for p in fault.fails if not any(matches(t, p) for t in failed)]
    assert not unexpected and not unmatched, f"unexpected failures {unexpected}, expected but passed {unmatched}; {context}"
    messages = "\n".join(f["message"] for f in gate["failures"])
    assert fault.message in messages, f"expected {fault.message!r} in the failure messages:\n{messages}"
