"""Every infra check can fail: for each gate test, break the matching thing in a private sandbox, run
the infra gate narrowed to the test's module, and see exactly that test fail with its message and the
verdict no-go; then heal (``selftests/gate_faults.py``). A last run proves every heal restored a healthy
sandbox (GO). One sandbox serves the whole module; faults are injected and healed one at a time.
"""

from __future__ import annotations

import pytest

from selftests.gate_faults import (  # noqa: F401 - sandbox and profile are fixtures
    Fault, assert_fails_exactly_its_check, assert_go, deployed, named_fault, profile, run_gate, sandbox)

pytestmark = pytest.mark.sandbox

STARTUP_LINES = "test_logs.py::test_every_task_of_this_deployment_logged_its_startup_line"

FAULTS = [
    Fault("worker-scaled-to-zero", "infra",
          ("test_services.py::test_service_is_active_with_running_equal_to_desired[ocr-gpu]",
           "test_services.py::test_every_running_task_runs_the_deployed_revision[ocr-gpu]", f"{STARTUP_LINES}[ocr-gpu]"),
          "ECS service filot-ocr-gpu-cluster/filot-ocr-gpu-service"),
    Fault("service-wrong-revision", "infra", ("test_services.py::test_service_runs_exactly_the_deployed_revision[backend]",
                                              "test_services.py::test_every_running_task_runs_the_deployed_revision[backend]",
                                              f"{STARTUP_LINES}[backend]"),
          "expected task definition"),
    Fault("deployment-failed", "infra", ("test_services.py::test_no_deployment_failed[backend]",
                                         "test_services.py::test_primary_deployment_completed[backend]",
                                         "test_services.py::test_circuit_breaker_is_enabled_with_rollback[backend]",
                                         "test_services.py::test_every_running_task_runs_the_deployed_revision[backend]",
                                         "test_services.py::test_no_task_of_this_deployment_stopped_on_a_failure[backend]"),
          "FAILED (ECS deployment circuit breaker"),
    Fault("worker-placement-binpack", "infra", ("test_service_configuration.py::test_service_is_configured_as_its_manifest_says[ocr-gpu]",),
          "service placementStrategy: manifest [{'type': 'spread', 'field': 'attribute:ecs.availability-zone'}]"),
    Fault("circuit-breaker-off", "infra", ("test_services.py::test_circuit_breaker_is_enabled_with_rollback[backend]",),
          "expected deploymentCircuitBreaker enable=true rollback=true"),
    Fault("api-task-crashed", "infra", ("test_services.py::test_no_task_of_this_deployment_stopped_on_a_failure[backend]",),
          "stopped on a failure since its deployment began"),
    Fault("audit-worker-killed", "infra", ("test_epr_tasks.py::test_audit_worker_container_runs_in_every_epr_task",),
          "expected container audit-worker RUNNING in every task of omen-epr:2"),
    Fault("ecs-exec-disabled", "infra", ("test_epr_tasks.py::test_ecs_exec_can_open_a_shell_in_epr_tasks",),
          "expected enableExecuteCommand true, got False"),
    Fault("ecs-exec-on-without-new-tasks", "infra", ("test_epr_tasks.py::test_ecs_exec_can_open_a_shell_in_epr_tasks",),
          "started before it was turned on and refuse execute-command"),
    Fault("epr-task-role-without-ecs-exec", "infra", ("test_epr_tasks.py::test_ecs_exec_can_open_a_shell_in_epr_tasks",),
          "to allow ssmmessages:CreateControlChannel"),
    Fault("health-check-path-wrong", "infra", ("test_alb.py::test_target_group_health_check_is_the_services_health_route[backend]",),
          "expected health check on /health"),
    Fault("target-deregistered", "infra", ("test_alb.py::test_every_task_of_the_service_is_a_healthy_target[backend]",),
          "expected every running backend task registered"),
    Fault("target-unhealthy", "infra", ("test_alb.py::test_every_task_of_the_service_is_a_healthy_target[backend]",),
          "expected every target healthy"),
    Fault("epr-target-deregistered", "infra", ("test_alb.py::test_every_task_of_the_service_is_a_healthy_target[epr]",),
          "target group omen-epr-tg: expected every running epr task registered"),
    Fault("log-group-retention-wrong", "infra",
          ("test_logs.py::test_log_group_exists_with_the_retention_policy[/ecs/filot-backend]",), "expected retention 90 days"),
    Fault("backend-autoscaling-removed", "infra", ("test_autoscaling.py::test_backend_service_scales_with_traffic_as_its_manifest_says",),
          "Application Auto Scaling target service/filot-backend-cluster/filot-backend-service: expected to exist"),
    Fault("exec-log-group-missing", "infra", ("test_logs.py::test_ecs_exec_log_group_exists[/ecs/filot-ocr-gpu-cluster]",),
          "CloudWatch log group /ecs/filot-ocr-gpu-cluster: expected to exist"),
    Fault("worker-max-retries-10", "infra",
          ("test_task_configuration.py::test_deployed_revision_is_the_manifest_s_configuration[ocr-gpu]",),
          "environment OCR_GPU_MAX_RETRIES: manifest '3', deployed '10'",
          make=lambda sandbox: deployed(sandbox, "ocr-gpu", "OCR_GPU_MAX_RETRIES=10")),
    Fault("startup-lines-missing", "infra", (f"{STARTUP_LINES}[backend]",), "expected a start-up line"),
    Fault("secret-in-logs", "infra", ("test_logs.py::test_no_line_of_this_deployment_s_logs_carries_a_secret_value[backend]",),
          "(value of filot/production/database-url)"),
    Fault("malformed-ocr-result", "infra", ("test_logs.py::test_no_container_of_this_deployment_logged_an_error[backend]",),
          '"msg": "dropping malformed OCR result"'),
    Fault("alarm-missing", "infra", ("test_alarms.py::test_alarm_exists_as_the_manifest_defines_it[filot-ocr-gpu-queue-length-high]",),
          "CloudWatch alarm filot-ocr-gpu-queue-length-high: expected to exist"),
    Fault("alarm-wrong-threshold", "infra",
          ("test_alarms.py::test_alarm_exists_as_the_manifest_defines_it[filot-ocr-gpu-queue-length-high]",),
          "Threshold: expected 20"),
    Fault("backend-release-renaming-the-queue-metric", "infra",
          ("test_alarms.py::test_metric_the_alarm_watches_is_arriving[filot-ocr-gpu-queue-length-high]",
           "test_alarms.py::test_metric_the_alarm_watches_is_arriving[filot-ocr-gpu-queue-length-critical]"),
          "watches FiLot/QueueLength (no dimensions): expected a datapoint in the last 20s"),
    Fault("alarm-firing", "infra", ("test_alarms.py::test_no_filot_alarm_is_in_alarm",), "filot-buli2-retry-queue-depth-high since"),
    Fault("pager-unsubscribed", "infra", ("test_alarms.py::test_alarm_topic_has_a_confirmed_subscriber[filot-production-pager]",),
          "SNS topic arn:aws:sns:ap-southeast-2:070017891928:filot-production-pager: expected a confirmed https or sms"
          " subscription (alerts/notifications.json), got no subscription"),
    Fault("dashboard-missing", "infra", ("test_alarms.py::test_dashboard_exists_with_the_manifests_widgets",),
          "CloudWatch dashboard filot-production: expected to exist"),
    Fault("dashboard-widget-wrong-metric", "infra", ("test_alarms.py::test_dashboard_exists_with_the_manifests_widgets",),
          "widget 'GPU OCR queue length' metrics: expected [['FiLot', 'QueueLength']], got [['FiLot', 'OcrQueueLength']]"),
]


def test_an_error_line_the_profile_calls_harmless_is_listed_not_failed(sandbox, profile, tmp_path):
    ignoring = tmp_path / "ignoring.toml"
    ignoring.write_text(profile.read_text() + '[logs]\nignored_errors = ["dropping malformed OCR result"]\n')
    with named_fault(sandbox, "malformed-ocr-result"):
        result, summary = run_gate(sandbox, ignoring, tmp_path / "reports", "infra", "tests/infra/test_logs.py")
    assert summary["verdict"] == "go", result.stdout[-3000:]
    attachments = [f.read_text() for f in (tmp_path / "reports" / "allure-results").glob("*-attachment.json")]
    listed = [a for a in attachments if "error lines [logs] ignored_errors matched" in a]
    assert any("dropping malformed OCR result" in a for a in listed), f"evidence of the logs checks: {listed}"


def test_healthy_sandbox_passes_preflight_and_infra(sandbox, profile, tmp_path):
    assert_go(sandbox, profile, tmp_path)


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_fault_fails_exactly_its_check(sandbox, profile, tmp_path, fault):
    assert_fails_exactly_its_check(sandbox, profile, tmp_path, fault)


def test_every_heal_left_the_sandbox_passing_preflight_and_infra(sandbox, profile, tmp_path):
    assert_go(sandbox, profile, tmp_path)
