"""Rollback fires after a failure, once per service, in plan mode changes nothing, survives SIGTERM,
and a team's hook can replace it (pytester against moto server)."""

from __future__ import annotations

import json

import boto3
import pytest

from selftests.services import moto_endpoint  # noqa: F401 - a fixture, used by name


@pytest.fixture
def deployed(moto_endpoint, request):
    """A service on revision 2 of its family, and a deploy record saying revision 1 was live before."""
    ecs = boto3.client("ecs", region_name="ap-southeast-2", endpoint_url=moto_endpoint,
                       aws_access_key_id="t", aws_secret_access_key="t")
    cluster = f"c-{request.node.name[:40]}"
    ecs.create_cluster(clusterName=cluster)
    arns = [ecs.register_task_definition(family=f"{cluster}-task", containerDefinitions=[
        {"name": "api", "image": f"filot-backend:{n}", "memory": 256}])["taskDefinition"]["taskDefinitionArn"]
        for n in (1, 2)]
    ecs.create_service(cluster=cluster, serviceName="api-service", taskDefinition=arns[1], desiredCount=1)
    record = {"runId": "deploy-1", "createdAt": "2026-11-23T10:00:00Z", "region": "ap-southeast-2", "services": {"backend": {
        "cluster": cluster, "service": "api-service", "family": f"{cluster}-task",
        "taskDefinitionArn": arns[1], "imageDigest": "sha256:" + "b" * 64, "previousTaskDefinitionArn": arns[0]}}}
    return ecs, cluster, arns, record


def aws(endpoint: str) -> str:
    return f'endpoint_url = "{endpoint}"\nstatic_credentials = ["t", "t"]\n'


def profile(mode: str) -> str:
    return f"""
[rollback]
mode = "{mode}"
[deploy]
record = "deploy-record.json"
[deadlines]
stable_s = 5
"""


FAILING_INFRA = {"test_gate": """
    import pytest

    @pytest.mark.preflight
    def test_preflight_ok():
        pass

    @pytest.mark.infra
    def test_service_healthy():
        assert False, "ECS service api-service: expected 1 running, got 0"

    @pytest.mark.infra
    def test_second_failure():
        assert False, "ALB target unhealthy"
"""}


FAILING_PREFLIGHT = {"test_gate": """
    import pytest

    @pytest.mark.preflight
    def test_secret():
        assert False, "JWT_SECRET shorter than 32 characters"
"""}


def test_plan_prints_the_exact_call_once_and_changes_nothing(gate_project, deployed, moto_endpoint):
    ecs, cluster, arns, record = deployed
    pytester = gate_project(profile("plan"), aws(moto_endpoint), **FAILING_INFRA)
    (pytester.path / "deploy-record.json").write_text(json.dumps(record))
    result = pytester.runpytest()
    assert result.ret == 1
    result.stdout.fnmatch_lines([
        "*rollback backend: planned (plan) previous-revision of api-service*",
        f"*aws ecs update-service --cluster {cluster} --service api-service --task-definition {arns[0]} --region ap-southeast-2*",
    ])
    assert result.stdout.str().count("rollback backend (plan): aws ecs update-service") == 1
    live = ecs.describe_services(cluster=cluster, services=["api-service"])["services"][0]["taskDefinition"]
    assert live == arns[1], f"plan mode changed the service to {live}"
    summary = json.loads((pytester.path / "reports" / "summary.json").read_text())
    (action,) = summary["rollback"]["actions"]
    assert (action["outcome"], action["before_arn"], action["mode"]) == ("planned", arns[1], "plan")


def test_preflight_failure_before_deploy_changes_nothing(gate_project, moto_endpoint):
    pytester = gate_project(profile("auto"), aws(moto_endpoint), **FAILING_PREFLIGHT)
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*rollback ?: nothing-to-undo (auto) no deploy record*"])


def test_a_failure_never_undoes_a_deploy_a_gate_run_accepted(gate_project, deployed, moto_endpoint):
    ecs, cluster, arns, record = deployed
    pytester = gate_project(profile("auto"), aws(moto_endpoint), **FAILING_PREFLIGHT)
    record["acceptedBy"] = "gate-run-of-yesterday"  # left by the last deploy, which its gate run accepted
    (pytester.path / "deploy-record.json").write_text(json.dumps(record))
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*rollback ?: nothing-to-undo (auto) deploy deploy-1 was accepted by gate run gate-run-of-yesterday*"])
    live = ecs.describe_services(cluster=cluster, services=["api-service"])["services"][0]["taskDefinition"]
    assert live == arns[1], f"api-service: expected the accepted {arns[1]} to stay live, got {live}"


@pytest.mark.parametrize(("marker_expression", "accepted"), [("", True), ("preflight", False)])
def test_go_on_every_post_deploy_gate_marks_the_deploy_accepted(gate_project, deployed, moto_endpoint, marker_expression, accepted):
    _, _, _, record = deployed
    pytester = gate_project(profile("auto"), aws(moto_endpoint), test_gate="""
        import pytest

        @pytest.mark.preflight
        def test_secrets():
            pass

        @pytest.mark.infra
        def test_services():
            pass

        @pytest.mark.gpu
        def test_worker():
            pass

        @pytest.mark.e2e
        def test_ktp():
            pass
    """)
    (pytester.path / "deploy-record.json").write_text(json.dumps(record))
    result = pytester.runpytest(*(["-m", marker_expression] if marker_expression else []))
    assert result.ret == 0, result.stdout.str()
    summary = json.loads((pytester.path / "reports" / "summary.json").read_text())
    written = json.loads((pytester.path / "deploy-record.json").read_text())
    expected = summary["runId"] if accepted else None
    assert written.get("acceptedBy") == expected, (
        f"deploy record after a go of {marker_expression or 'every gate'}: expected acceptedBy {expected!r},"
        f" got {written.get('acceptedBy')!r}")


def test_a_service_whose_rollback_fails_is_reported_and_the_others_still_roll_back(gate_project, deployed, moto_endpoint):
    ecs, cluster, arns, record = deployed
    gone = dict(record["services"]["backend"], service="deleted-service")
    record["services"] = {"epr": gone, **record["services"]}
    pytester = gate_project(profile("plan"), aws(moto_endpoint), **FAILING_INFRA)
    (pytester.path / "deploy-record.json").write_text(json.dumps(record))
    result = pytester.runpytest()
    summary = json.loads((pytester.path / "reports" / "summary.json").read_text())
    outcomes = {a["service"]: (a["outcome"], a["detail"]) for a in summary["rollback"]["actions"]}
    assert outcomes["epr"][0] == "failed" and "deleted-service" in outcomes["epr"][1], outcomes
    assert outcomes["backend"][0] == "planned", outcomes
    result.stdout.fnmatch_lines(["*rollback epr: failed (plan) previous-revision of deleted-service: DeployError*"])


def test_a_corrupt_deploy_record_fails_the_rollback_in_one_line_and_the_summary_is_written(gate_project, moto_endpoint):
    pytester = gate_project(profile("auto"), aws(moto_endpoint), **FAILING_INFRA)
    (pytester.path / "deploy-record.json").write_text('{"runId": "deploy-1", "services": {')  # cut off mid-write
    result = pytester.runpytest()
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*rollback ?: failed (auto) gate infra failed, but deploy record * is not valid JSON*",
                                 "*VERDICT: NO-GO*"])
    summary = json.loads((pytester.path / "reports" / "summary.json").read_text())
    assert summary["rollback"]["actions"][0]["outcome"] == "failed"


def test_auto_updates_the_service_to_the_previous_revision(gate_project, deployed, moto_endpoint):
    ecs, cluster, arns, record = deployed
    pytester = gate_project(profile("auto"), aws(moto_endpoint), **FAILING_INFRA)
    (pytester.path / "deploy-record.json").write_text(json.dumps(record))
    pytester.runpytest()
    requested = ecs.describe_services(cluster=cluster, services=["api-service"])["services"][0]
    summary = json.loads((pytester.path / "reports" / "summary.json").read_text())
    (action,) = summary["rollback"]["actions"]
    assert action["calls"] and arns[0] in action["calls"][0]
    # moto alone never reports the rollout complete (the sandbox's agent does): the wait must say so
    assert action["outcome"] in ("rolled-back", "failed"), action
    assert requested["taskDefinition"] in (arns[0], arns[1])


def test_a_team_hook_replaces_the_built_in_rollback(gate_project, deployed, moto_endpoint):
    ecs, cluster, arns, record = deployed
    pytester = gate_project(profile("auto"), aws(moto_endpoint), **FAILING_INFRA)
    (pytester.path / "deploy-record.json").write_text(json.dumps(record))
    pytester.makeconftest("""
        import pytest
        from filot_gate.rollback import RollbackAction

        @pytest.hookimpl(tryfirst=True)
        def pytest_filot_gate_rollback(config, trigger):
            return [RollbackAction("pager", trigger.mode, "paged", f"paged on-call about gate {trigger.gate}")]
    """)
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*rollback pager: paged (auto) paged on-call about gate infra*"])
    assert ecs.describe_services(cluster=cluster, services=["api-service"])["services"][0]["taskDefinition"] == arns[1]


def test_sigterm_after_a_post_deploy_failure_still_rolls_back(gate_project, deployed, moto_endpoint):
    ecs, cluster, arns, record = deployed
    pytester = gate_project(profile("plan"), aws(moto_endpoint), test_gate="""
        import os, signal
        import pytest

        @pytest.mark.infra
        def test_fails_first():
            assert False, "ECS service api-service: deployment FAILED"

        @pytest.mark.infra
        def test_then_the_ci_job_is_cancelled():
            os.kill(os.getpid(), signal.SIGTERM)
    """)
    (pytester.path / "deploy-record.json").write_text(json.dumps(record))
    result = pytester.runpytest_subprocess(timeout=120)
    result.stdout.fnmatch_lines(["*rollback backend: planned (plan)*", "*VERDICT: NO-GO*"])
    summary = json.loads((pytester.path / "reports" / "summary.json").read_text())
    assert summary["interrupted"] is True


def test_the_run_deadline_ends_the_run_even_under_pytest_timeout_and_still_rolls_back(gate_project, deployed, moto_endpoint):
    ecs, cluster, arns, record = deployed
    pytester = gate_project(profile("plan"), aws(moto_endpoint), test_gate="""
        import time
        import pytest

        @pytest.mark.infra
        def test_fails_first():
            assert False, "ECS service api-service: deployment FAILED"

        @pytest.mark.infra
        def test_hangs_past_the_run_deadline():
            time.sleep(60)

        @pytest.mark.e2e
        def test_never_reached():
            pass
    """)
    (pytester.path / "deploy-record.json").write_text(json.dumps(record))
    # pytest-timeout's signal method re-arms ITIMER_REAL for every test: the deadline must not depend on it
    result = pytester.runpytest_subprocess("--gate-deadline=3", "--timeout=120", timeout=100)
    result.stdout.fnmatch_lines([
        "*infra      failed*",
        "*e2e        incomplete    1 not run*",
        "*interrupted: the gate deadline of 3 s passed (gate_deadline, option --gate-deadline)*",
        "*rollback backend: planned (plan)*",
        "*VERDICT: NO-GO*",
    ])
    summary = json.loads((pytester.path / "reports" / "summary.json").read_text())
    assert (summary["interrupted"], summary["gates"]["e2e"]["counts"]["notRun"]) == (True, 1)
    assert summary["interruptedBy"].startswith("the gate deadline of 3 s passed")


def test_the_deadline_does_not_cut_a_rollback_short(gate_project, deployed, moto_endpoint):
    ecs, cluster, arns, record = deployed
    pytester = gate_project(profile("plan"), aws(moto_endpoint), test_gate="""
        import time
        import pytest

        @pytest.mark.infra
        def test_fails_near_the_deadline():
            time.sleep(1)
            assert False, "ECS service api-service: deployment FAILED"
    """, conftest="""
        import time
        import pytest
        from filot_gate.rollback import RollbackAction

        @pytest.hookimpl(tryfirst=True)
        def pytest_filot_gate_rollback(config, trigger):
            time.sleep(4)  # a rollback still waiting for ECS when the run's deadline comes
            return [RollbackAction("slow", trigger.mode, "rolled-back", "waited for the service")]
    """)
    (pytester.path / "deploy-record.json").write_text(json.dumps(record))
    result = pytester.runpytest_subprocess("--gate-deadline=3", timeout=100)
    result.stdout.fnmatch_lines(["*rollback slow: rolled-back (plan) waited for the service*", "*VERDICT: NO-GO*"])
    summary = json.loads((pytester.path / "reports" / "summary.json").read_text())
    assert summary["interrupted"] is False, summary["interruptedBy"]


def test_under_xdist_the_tests_a_deadline_left_unrun_make_their_gate_incomplete(gate_project, moto_endpoint):
    pytester = gate_project(profile("plan"), aws(moto_endpoint), test_gate="""
        import time
        import pytest

        @pytest.mark.infra
        def test_hangs_past_the_run_deadline():
            time.sleep(60)

        @pytest.mark.e2e
        def test_never_reached():
            pass
    """)
    # the deadline must outlast the workers' start on a loaded machine (they collect before it fires)
    result = pytester.runpytest_subprocess("-n", "2", "--gate-deadline=20", timeout=120)
    summary = json.loads((pytester.path / "reports" / "summary.json").read_text())
    statuses = {gate: summary["gates"][gate]["status"] for gate in ("infra", "e2e")}
    assert statuses == {"infra": "incomplete", "e2e": "incomplete"}, result.stdout.str()[-3000:]
