"""The gate starts the target the profile names when it is down, and stops it after the run; a start
or stop command that hangs or fails ends in one line that says which command, never a traceback."""

from __future__ import annotations

import pytest

from selftests.conftest import BASE_PROFILE
from selftests.sandbox_fixture import REPO
from selftests.services import fresh_database, moto_endpoint, postgres_server  # noqa: F401 - fixtures

PASSING = {"test_gate": """
    import pytest

    @pytest.mark.preflight
    def test_ok():
        pass
"""}


def target_profile(pytester: pytest.Pytester, start: str, stop: str, start_s: int = 30) -> None:
    """A profile whose target is down (check exits 3) and comes up with ``start``."""
    profile = BASE_PROFILE.format(aws="").replace('[target]\n', f"""[target]
check = 'python -c "raise SystemExit(3)"'
start = '{start}'
stop = '{stop}'
""") + f"[deadlines]\nstart_s = {start_s}\n"
    (pytester.path / "profiles" / "local.toml").write_text(profile)


def test_a_start_command_past_its_deadline_ends_the_run_in_one_line(gate_project):
    pytester = gate_project(**PASSING)
    target_profile(pytester, start='python -c "import time; time.sleep(60)"', stop="true", start_s=1)
    result = pytester.runpytest_subprocess(timeout=60)
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()
    result.stdout.fnmatch_lines(["*filot-gate: target start command * did not finish within 1 s*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_a_stop_command_that_fails_is_named_and_the_reports_are_still_written(gate_project):
    pytester = gate_project(**PASSING)
    target_profile(pytester, start='python -c "pass"', stop='python -c "raise SystemExit(1)"')
    result = pytester.runpytest_subprocess(timeout=60)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines([
        "*filot-gate: target unit: was not running: started*",
        "*filot-gate: target did not stop: * exited 1; stop it by hand*",
    ])
    assert (pytester.path / "reports" / "summary.json").exists(), "reports/summary.json: expected after a run whose stop failed"
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_a_gate_query_past_its_deadline_is_cancelled_by_postgres(gate_project, fresh_database):  # noqa: F811
    """A statement stuck on a lock or a slow plan ends at ``[deadlines] query_s``, as "could not observe"."""
    pytester = gate_project(profile_extra="[deadlines]\nquery_s = 1\n", test_gate="""
        import pytest

        @pytest.mark.preflight
        def test_a_slow_query(db):
            db.execute("SELECT pg_sleep(30)")
    """)
    pytester.makeconftest((REPO / "conftest.py").read_text())
    profile = pytester.path / "profiles" / "local.toml"
    profile.write_text(profile.read_text().replace("[target]\n", f'[target]\ndatabase_url = "{fresh_database}"\n'))
    result = pytester.runpytest_subprocess(timeout=60)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*could not observe the target: psycopg.errors.QueryCanceled: canceling statement due to"
                                 " statement timeout*", "VERDICT: INCONCLUSIVE*"])


def test_the_gate_works_as_the_role_the_profile_names(gate_project, moto_endpoint):  # noqa: F811
    """``[aws] role_arn``: the target's clients carry the role's credentials (session ``filot-gate``)."""
    role_arn = "arn:aws:iam::123456789012:role/filot-deployment-gate"
    pytester = gate_project(aws=f"""
        endpoint_url = "{moto_endpoint}"
        static_credentials = ["unit", "unit"]
        role_arn = "{role_arn}"
    """, test_gate="""
        import pytest
        from filot_gate.plugin import run_key

        @pytest.mark.preflight
        def test_identity(pytestconfig):
            arn = pytestconfig.stash[run_key].target.client("sts").get_caller_identity()["Arn"]
            assert arn == "arn:aws:sts::123456789012:assumed-role/filot-deployment-gate/filot-gate", arn
    """)
    result = pytester.runpytest_subprocess(timeout=120)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
