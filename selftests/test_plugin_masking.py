"""A secret the gate loads appears in no output: HTML, junit, allure, summary.json, terminal."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import boto3

from filot_gate.redact import Redactor, mask_log_records
from filot_gate.secret_store import register_secret
from selftests.conftest import BASE_PROFILE
from selftests.services import moto_endpoint  # noqa: F401 - a fixture, used by name

SECRET = "s3cr3t-jwt-value-that-must-never-leak-0123456789"

LEAKY_TESTS = {
    "conftest": f"""
        import pytest
        from filot_gate.plugin import run_key

        @pytest.fixture
        def loaded_secret(pytestconfig):
            value = "{SECRET}"
            pytestconfig.stash[run_key].redactor.register(value)  # what Target.secret() does
            return value
    """,
    "test_leaks": """
        import logging
        import pytest

        @pytest.mark.preflight
        def test_secret_in_every_channel(loaded_secret, evidence, record_property):
            print("stdout has", loaded_secret)
            logging.getLogger("filot").warning("log has %s", loaded_secret)
            logging.getLogger("filot.deep.child").error("child logger has %s", loaded_secret)
            evidence.add("response", {"token": loaded_secret})
            record_property("jwt", loaded_secret)
            assert loaded_secret == "", f"JWT_SECRET is {loaded_secret} and DSN postgresql://filot:pw-in-url@db/filot"
    """,
}


def test_planted_secret_appears_in_no_output_file(gate_project):
    pytester = gate_project(**LEAKY_TESTS)
    result = pytester.runpytest(
        "--html=reports/gate-report.html", "--self-contained-html", "--junitxml=reports/junit.xml",
        "--alluredir=reports/allure-results", "-p", "allure_pytest", "-o", "junit_logging=all", "-o", "junit_family=xunit1", "-o", "log_cli=true",
    )
    assert result.ret == 1
    result.stdout.no_fnmatch_line(f"*{SECRET}*")
    result.stdout.no_fnmatch_line("*pw-in-url*")
    result.stdout.fnmatch_lines(["*JWT_SECRET is ******** and DSN postgresql://filot:********@db/filot*"])
    files = [p for p in (pytester.path / "reports").rglob("*") if p.is_file() and ".runs" not in p.parts]
    assert {"gate-report.html", "junit.xml", "summary.json"} <= {p.name for p in files}
    assert any(p.parent.name == "allure-results" for p in files), "allure wrote no results"
    leaks = [p.name for p in files if SECRET in p.read_text(errors="replace")]
    assert leaks == [], f"secret value found in {leaks}"


def test_configuration_kept_beside_the_secrets_stays_readable_and_the_rest_is_masked():
    """The manifest marks an account id or an endpoint ``"masked": false``: a rollback plan's ARNs stay
    copy-pastable; the credentials of the same secret are masked."""
    target = SimpleNamespace(redactor=Redactor())
    register_secret(target, "filot/production/aws-account-id", "070017891928")
    register_secret(target, "filot/production/cf-r2", json.dumps({
        "CF_R2_ACCESS_KEY_ID": "AKIAEXAMPLEKEY123456", "CF_R2_SECRET_ACCESS_KEY": "r2-secret-" + "x" * 30,
        "CF_R2_BUCKET_NAME": "filot-documents", "CF_R2_ENDPOINT": "https://r2.example.com"}))
    register_secret(target, "filot/production/jwt-secret", SECRET)
    text = ("arn:aws:ecs:ap-southeast-2:070017891928:task-definition/filot-backend:3 bucket filot-documents"
            f" at https://r2.example.com key AKIAEXAMPLEKEY123456 r2-secret-{'x' * 30} jwt {SECRET}")
    assert target.redactor.text(text) == ("arn:aws:ecs:ap-southeast-2:070017891928:task-definition/filot-backend:3"
                                          " bucket filot-documents at https://r2.example.com key ******** ******** jwt ********")


def test_a_binary_secret_is_named_and_every_other_secret_is_still_masked(gate_project, moto_endpoint):
    """A SecretBinary under the prefix used to end the gate's start in a KeyError traceback, and a
    secret that could not be read left the ones after it unregistered."""
    secrets = boto3.client("secretsmanager", region_name="ap-southeast-2", endpoint_url=moto_endpoint,
                           aws_access_key_id="t", aws_secret_access_key="t")
    secrets.create_secret(Name="masking-test/a-legacy-cert", SecretBinary=b"\x00\x01")
    secrets.create_secret(Name="masking-test/jwt-secret", SecretString=SECRET)
    pytester = gate_project(test_leak="""
        import pytest

        @pytest.mark.preflight
        def test_prints_the_secret():
            print("JWT_SECRET", "%s")
            assert False, "JWT_SECRET is %s"
    """ % (SECRET, SECRET))
    profile = BASE_PROFILE.format(aws=f'endpoint_url = "{moto_endpoint}"\nstatic_credentials = ["t", "t"]\n'
                                       'secrets_prefix = "masking-test"\n')
    (pytester.path / "profiles" / "local.toml").write_text(profile.replace("preload_secrets = false", "preload_secrets = true"))
    result = pytester.runpytest()
    result.stdout.fnmatch_lines([
        "*filot-gate: 1 secret(s) under masking-test registered for masking*",
        "*filot-gate: not registered for masking: secret masking-test/a-legacy-cert: expected a SecretString*",
    ])
    result.stdout.no_fnmatch_line(f"*{SECRET}*")
    assert "Traceback" not in result.stdout.str()


def test_a_log_call_whose_arguments_do_not_fit_its_format_is_masked_and_does_not_raise(caplog):
    redactor = Redactor()
    redactor.register(SECRET)
    unmask = mask_log_records(redactor)
    try:
        with caplog.at_level(logging.INFO, logger="third.party"):
            logging.getLogger("third.party").info("connected with %s and %s", SECRET)
    finally:
        unmask()
    (record,) = caplog.records
    assert record.getMessage() == "connected with %s and %s (arguments that do not fit the format: ('********',))", \
        f"log record: expected the format and its masked arguments, got {record.getMessage()!r}"
