"""Ordering by marker, blocking of later gates, verdicts and exit codes (pytester, end to end)."""

from __future__ import annotations

import json

import pytest

GATE_TESTS = {
    "test_z_first_in_name": """
        import pytest

        @pytest.mark.e2e
        def test_upload():
            pass

        @pytest.mark.preflight
        def test_secrets():
            pass
    """,
    "test_a_last_in_name": """
        import pytest

        @pytest.mark.infra
        def test_services():
            pass

        @pytest.mark.gpu
        class TestWorker:
            def test_heartbeat(self):
                pass
    """,
}


def summary(pytester) -> dict:
    return json.loads((pytester.path / "reports" / "summary.json").read_text())


def test_gates_run_in_marker_order_not_file_order(gate_project):
    pytester = gate_project(**GATE_TESTS)
    result = pytester.runpytest("-v")
    result.stdout.fnmatch_lines([
        "*test_secrets PASSED*",
        "*test_services PASSED*",
        "*test_heartbeat PASSED*",
        "*test_upload PASSED*",
    ])
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*VERDICT: GO*"])


def test_collect_only_lists_in_gate_order_starts_no_target_and_keeps_the_last_report(gate_project):
    pytester = gate_project(**GATE_TESTS)
    profile = pytester.path / "profiles" / "local.toml"
    profile.write_text(profile.read_text().replace(
        "[target]\n", '[target]\ncheck = "false"\nstart = "touch target-started"\nstop = "true"\n', 1))
    (pytester.path / "reports").mkdir()
    last_report = pytester.path / "reports" / "gate-report.html"
    last_report.write_text("the last real run's report")
    result = pytester.runpytest("--collect-only", "-q", f"--html={last_report}", "--junitxml=reports/junit.xml")
    result.stdout.fnmatch_lines(["*::test_secrets", "*::test_services", "*::test_heartbeat", "*::test_upload"])
    assert result.ret == 0
    result.stdout.no_fnmatch_line("*VERDICT*")
    assert not (pytester.path / "target-started").exists(), "--collect-only started the target"
    assert sorted(p.name for p in (pytester.path / "reports").iterdir()) == ["gate-report.html"]
    assert last_report.read_text() == "the last real run's report", "--collect-only overwrote the last report"
    assert pytester.runpytest("--fixtures").ret == 0
    assert not (pytester.path / "target-started").exists(), "--fixtures started the target"


def test_a_path_option_written_with_a_space_is_a_usage_error_not_a_run_without_the_gate(gate_project, tmp_path_factory):
    pytester = gate_project(**GATE_TESTS)
    elsewhere = tmp_path_factory.mktemp("profiles-elsewhere") / "good.toml"
    elsewhere.write_text((pytester.path / "profiles" / "local.toml").read_text())
    result = pytester.runpytest("--target", str(elsewhere))
    result.stderr.fnmatch_lines(["*--target given, but the FiLot gate is off: no ini file with filot_gate = true*"
                                 " Write path options with '=' (--target=PATH*"])
    assert result.ret == 4
    assert pytester.runpytest(f"--target={elsewhere}").ret == 0


def test_a_test_with_two_gates_is_a_collection_error(gate_project):
    pytester = gate_project(test_bad="""
        import pytest

        @pytest.mark.preflight
        @pytest.mark.e2e
        def test_both():
            pass

        def test_none():
            pass
    """)
    result = pytester.runpytest()
    result.stdout.fnmatch_lines([
        "*gate markers: every test needs exactly one of preflight, infra, gpu, e2e*",
        "*test_bad.py::test_both: has e2e, preflight*",
        "*test_bad.py::test_none: has none*",
    ])
    assert result.ret == 2


def test_a_collection_error_is_what_the_summary_says_stopped_the_run(gate_project):
    pytester = gate_project(test_broken="import no_such_module\n")
    result = pytester.runpytest()
    assert result.ret == 2
    data = summary(pytester)
    assert (data["interrupted"], data["interruptedBy"]) == (True, "1 error during collection"), data
    result.stdout.fnmatch_lines(["*interrupted: 1 error during collection*"])


def test_unknown_marker_is_refused(gate_project):
    pytester = gate_project(test_typo="""
        import pytest

        @pytest.mark.prefligth
        def test_x():
            pass
    """)
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*'prefligth' not found in `markers` configuration option*"])
    assert result.ret == 2


def test_failed_gate_blocks_later_gates_and_verdict_is_no_go(gate_project):
    pytester = gate_project(test_gates="""
        import pytest

        @pytest.mark.preflight
        def test_redis_tls():
            assert False, "Redis rediss://127.0.0.1:6380: expected TLS, got plain TCP"

        @pytest.mark.preflight
        def test_db():
            pass

        @pytest.mark.infra
        def test_services():
            pass

        @pytest.mark.e2e
        def test_upload():
            pass
    """)
    result = pytester.runpytest("-v", "-rs")
    result.stdout.fnmatch_lines([
        "*test_redis_tls FAILED*",
        "*test_db PASSED*",
        "*test_services BLOCKED*",
        "*test_upload BLOCKED*",
        "*BLOCKED test_gates.py::test_services - blocked: gate preflight failed (1 test(s), first test_gates.py::test_redis_tls); not run*",
        "*rollback ?: nothing-to-undo (plan) no deploy record*",
        "*VERDICT: NO-GO*",
    ])
    assert result.ret == 1
    data = summary(pytester)
    assert data["verdict"] == "no-go"
    assert data["gates"]["preflight"]["status"] == "failed"
    assert data["gates"]["infra"]["status"] == "blocked"
    assert data["gates"]["gpu"]["status"] == "not selected"
    assert [b["test"] for b in data["blocked"]] == ["test_gates.py::test_services", "test_gates.py::test_upload"]
    assert "expected TLS, got plain TCP" in data["gates"]["preflight"]["failures"][0]["message"]


def test_an_exception_that_is_not_an_assertion_makes_the_gate_error_and_the_run_inconclusive(gate_project):
    pytester = gate_project(test_gates="""
        import pytest

        @pytest.mark.preflight
        def test_aws():
            raise ConnectionError("ExpiredToken: the security token included in the request is expired")

        @pytest.mark.infra
        def test_services():
            pass
    """)
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*preflight*error*", "*VERDICT: INCONCLUSIVE*"])
    assert result.ret == 1
    assert summary(pytester)["gates"]["infra"]["status"] == "blocked"
    result.stdout.fnmatch_lines(["*ERROR at call of test_aws*", "*= 1 error, 1 blocked in *"])


def test_an_unreachable_dependency_is_told_in_two_lines_and_a_bug_keeps_its_traceback(gate_project):
    pytester = gate_project(test_gates="""
        import pytest
        import redis

        def read_policy(client):
            return client.config_get("maxmemory-policy")

        @pytest.mark.preflight
        def test_redis_unreachable():
            read_policy(redis.Redis(port=1, socket_connect_timeout=2))

        @pytest.mark.preflight
        def test_ping_failed_while_handling():
            try:
                redis.Redis(port=1, socket_connect_timeout=2).ping()
            except redis.RedisError as exc:
                pytest.fail(f"Redis 127.0.0.1:1: expected PONG, got {type(exc).__name__}")

        @pytest.mark.preflight
        def test_bug_in_a_check():
            {}["missing"]
    """)
    result = pytester.runpytest()
    result.stdout.fnmatch_lines([
        "*could not observe the target: redis.exceptions.ConnectionError: Error 111 connecting to localhost:1*",
        "*  in test_gates.py:9: read_policy(redis.Redis(port=1, socket_connect_timeout=2))",
    ])
    result.stdout.fnmatch_lines(["*Failed: Redis 127.0.0.1:1: expected PONG, got ConnectionError"])
    result.stdout.no_fnmatch_line("*During handling of the above exception*")
    result.stdout.fnmatch_lines(["*def test_bug_in_a_check():*", "*KeyError: 'missing'"])
    pytester.runpytest("--full-trace").stdout.no_fnmatch_line("*could not observe the target*")


def test_a_selected_later_gate_is_not_blocked_by_an_unselected_earlier_one(gate_project):
    pytester = gate_project(test_gates="""
        import pytest

        @pytest.mark.preflight
        def test_broken():
            assert False

        @pytest.mark.e2e
        def test_upload():
            pass
    """)
    result = pytester.runpytest("-m", "e2e")
    result.assert_outcomes(passed=1, deselected=1)
    assert result.ret == 0
    assert summary(pytester)["gates"]["preflight"]["status"] == "not selected"


def test_setup_only_shows_the_fixtures_at_once_and_judges_nothing(gate_project):
    """No test is called, so no earlier gate's outcome comes: a later gate must not wait for one (it waited
    for the whole run deadline, here 600 s, past pytester's timeout)."""
    pytester = gate_project(profile_extra="[deadlines]\nrun_s = 600\n", **GATE_TESTS)
    result = pytester.runpytest_subprocess("--setup-only", "-p", "no:randomly", timeout=60)
    result.stdout.fnmatch_lines(["*preflight  incomplete*", "*e2e * incomplete*", "*VERDICT: INCONCLUSIVE*"])
    assert "gate deadline" not in result.stdout.str()


@pytest.mark.parametrize("xdist", [(), ("-n", "2", "-p", "xdist")], ids=["one process", "xdist"])
def test_a_test_s_gate_is_its_marker_not_a_folder_named_like_one(gate_project, xdist):
    pytester = gate_project()
    (pytester.path / "infra").mkdir()
    (pytester.path / "infra" / "test_misplaced.py").write_text(
        "import pytest\n\n\n@pytest.mark.e2e\ndef test_upload():\n    assert False, 'upload refused'\n")
    result = pytester.runpytest(*xdist)
    assert result.ret == 1
    gates = summary(pytester)["gates"]
    assert (gates["e2e"]["status"], gates["infra"]["status"]) == ("failed", "not selected"), gates


def test_all_skipped_required_gate_is_not_a_pass(gate_project):
    pytester = gate_project(test_gates="""
        import pytest

        @pytest.mark.gpu
        def test_cuda():
            pytest.skip("profile unit: no GPU instance in this environment")
    """)
    result = pytester.runpytest("-rs")
    result.stdout.fnmatch_lines(["*gpu*skipped*", "*VERDICT: INCONCLUSIVE*"])
    assert result.ret == 1
    assert summary(pytester)["gates"]["gpu"]["skipReasons"] == ["profile unit: no GPU instance in this environment"]


def test_all_skipped_gate_not_required_by_profile_passes(gate_project):
    pytester = gate_project(
        '[gates]\nnot_required = ["gpu"]\n',
        test_gates="""
        import pytest

        @pytest.mark.gpu
        def test_cuda():
            pytest.skip("profile unit: GPU not required")
    """)
    result = pytester.runpytest()
    assert result.ret == 0
    assert summary(pytester)["verdict"] == "go"


def test_xdist_gives_the_same_verdict_and_blocks_across_workers(gate_project):
    pytester = gate_project(test_gates="""
        import pytest

        @pytest.mark.preflight
        @pytest.mark.parametrize("n", range(4))
        def test_pre(n):
            assert n != 3, "preflight check 3 failed"

        @pytest.mark.e2e
        @pytest.mark.parametrize("n", range(4))
        def test_e2e(n):
            pass
    """)
    result = pytester.runpytest("-n", "2", "-p", "xdist")
    assert result.ret == 1
    data = summary(pytester)
    assert data["verdict"] == "no-go"
    assert data["gates"]["preflight"]["counts"]["failed"] == 1
    assert data["gates"]["e2e"]["counts"]["blocked"] == 4


def test_under_xdist_a_teardown_error_blocks_the_later_gate_on_another_worker(gate_project):
    pytester = gate_project(test_pre="""
        import time
        import pytest

        @pytest.fixture
        def synthetic_user():
            yield "gate-user"
            time.sleep(4)  # the later gate's worker is already waiting on this test (it started its own, empty, module)
            raise RuntimeError("synthetic user gate-user could not be deleted")

        @pytest.mark.preflight
        def test_pre(synthetic_user):
            pass
    """, test_post="""
        import pytest

        @pytest.mark.infra
        def test_infra():
            pass
    """)
    result = pytester.runpytest("-n", "2", "-p", "xdist", "--dist", "loadfile")
    data = summary(pytester)
    statuses = {gate: data["gates"][gate]["status"] for gate in ("preflight", "infra")}
    assert statuses == {"preflight": "error", "infra": "blocked"}, (
        f"gate statuses after a teardown error under xdist: expected preflight error, infra blocked, got {statuses}\n"
        + result.stdout.str()[-2000:])


def test_summary_json_has_the_documented_shape(gate_project):
    pytester = gate_project(**GATE_TESTS)
    pytester.runpytest("--run-id", "shape-check")
    data = summary(pytester)
    assert set(data) == {"runId", "target", "environment", "verdict", "interrupted", "interruptedBy", "startedAt", "finishedAt",
                         "durationS", "gates", "blocked", "rollback", "deployRecord", "lock", "settings", "versions"}
    assert data["runId"] == "shape-check"
    assert list(data["gates"]) == ["preflight", "infra", "gpu", "e2e"]
    for gate in data["gates"].values():
        assert set(gate) == {"status", "required", "counts", "durationS", "failures", "skipReasons"}
        assert set(gate["counts"]) == {"selected", "passed", "failed", "error", "skipped", "blocked", "notRun"}
    assert set(data["rollback"]) == {"mode", "actions"}
    assert data["settings"]["rollback"] == {"value": "plan", "source": "default"}
    assert {"python", "filot-gate", "pytest"} <= set(data["versions"])


def test_live_log_leaves_out_one_line_per_http_request_but_the_report_keeps_them(gate_project):
    pytester = gate_project(test_gates="""
        import logging
        import pytest

        @pytest.mark.preflight
        def test_api():
            logging.getLogger("httpx").info("HTTP Request: GET http://127.0.0.1:9/health 200")
            logging.getLogger("httpx").warning("HTTP retry: connection reset")
            logging.getLogger("filot").info("checked the API")
            assert False, "see the log"
    """)
    result = pytester.runpytest("-o", "log_cli=true", "-o", "log_cli_level=INFO", "-o", "log_level=INFO",
                                "--junitxml=reports/junit.xml", "-o", "junit_logging=all")
    live = result.stdout.str().split("= FAILURES =")[0]
    assert "checked the API" in live and "HTTP retry: connection reset" in live
    assert "HTTP Request: GET" not in live
    assert "HTTP Request: GET http://127.0.0.1:9/health 200" in (pytester.path / "reports" / "junit.xml").read_text()


def test_gate_reports_moves_the_html_junit_and_allure_reports_with_the_summary(gate_project):
    pytester = gate_project(**GATE_TESTS)
    result = pytester.runpytest("--gate-reports=elsewhere", "--html=reports/gate-report.html",
                                "--junitxml=reports/junit.xml", "--alluredir=reports/allure-results", "-p", "allure_pytest")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*reports_dir = elsewhere  [[]option --gate-reports[]]*"])
    assert {p.name for p in (pytester.path / "elsewhere").iterdir()} >= {
        "summary.json", "gate-report.html", "junit.xml", "allure-results"}
    assert not (pytester.path / "reports").exists(), sorted(p.name for p in (pytester.path / "reports").iterdir())

    nested = pytester.runpytest("--gate-reports=reports/smoke", "--junitxml=reports/smoke/junit.xml")
    assert nested.ret == 0
    assert (pytester.path / "reports" / "smoke" / "junit.xml").is_file(), "a path already under --gate-reports moved again"


def test_an_unknown_marker_in_m_judges_nothing_and_keeps_the_last_summary(gate_project):
    pytester = gate_project(**GATE_TESTS)
    assert pytester.runpytest().ret == 0
    last = (pytester.path / "reports" / "summary.json").read_text()
    result = pytester.runpytest("-m", "bogus")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*Unknown marker(s) in '-m' expression: bogus*"])
    result.stdout.no_fnmatch_line("*VERDICT*")
    assert (pytester.path / "reports" / "summary.json").read_text() == last
