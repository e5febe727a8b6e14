"""Options, profiles and their errors: precedence, sources in the header, usage errors (pytester)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from filot_gate import profile_schema
from filot_gate.settings import SPECS, load_profile
from selftests.sandbox_fixture import PrivateSandbox

REPO = Path(__file__).resolve().parent.parent
ONE_TEST = {"test_one": "import pytest\n\n@pytest.mark.preflight\ndef test_ok():\n    pass\n"}


def test_help_shows_one_option_group_for_the_gate(gate_project):
    result = gate_project().runpytest("--help")
    result.stdout.fnmatch_lines([
        "FiLot deployment gate:",
        "*--target=NAME|PATH*",
        "*--rollback=*",
        "*--deploy-record=PATH*",
        "*--gate-deadline=SECONDS*",
    ])


def test_unknown_target_is_a_usage_error_naming_the_known_ones(gate_project):
    result = gate_project(**ONE_TEST).runpytest("--target", "staging")
    result.stderr.fnmatch_lines(["*--target: unknown target 'staging': no profile *staging.toml; known targets: local*"])
    assert result.ret == 4
    result.stderr.no_fnmatch_line("*Traceback*")


def test_malformed_profile_is_a_usage_error_naming_the_file(gate_project):
    pytester = gate_project(**ONE_TEST)
    (pytester.path / "profiles" / "broken.toml").write_text("[target\nname = 'x'\n")
    result = pytester.runpytest("--target", "broken")
    result.stderr.fnmatch_lines(["*profile *broken.toml is not valid TOML*"])
    assert result.ret == 4


def test_missing_required_setting_names_the_setting_and_file(gate_project):
    pytester = gate_project(**ONE_TEST)
    (pytester.path / "profiles" / "bare.toml").write_text("[target]\nname = 'bare'\n[aws]\nregion = 'ap-southeast-2'\n")
    result = pytester.runpytest("--target", "bare")
    result.stderr.fnmatch_lines(["*missing required setting api_url: set [[]target.api_url[]] in profile *bare.toml*"])
    assert result.ret == 4


def test_option_beats_environment_beats_profile_and_the_header_says_where_from(gate_project, monkeypatch):
    pytester = gate_project('[rollback]\nmode = "auto"\n[deadlines]\nrun_s = 600\n', **ONE_TEST)
    monkeypatch.setenv("FILOT_GATE_ROLLBACK", "off")
    monkeypatch.setenv("FILOT_GATE_DEADLINE", "300")
    result = pytester.runpytest("--rollback", "plan")
    result.stdout.fnmatch_lines([
        "*rollback = plan  [[]option --rollback[]]*",
        "*gate_deadline = 300.0  [[]env FILOT_GATE_DEADLINE[]]*",
        "*region = ap-southeast-2  [[]profile local.toml [[]aws.region[]][]]*",
    ])


def test_bad_value_is_a_usage_error_with_its_source(gate_project, monkeypatch):
    monkeypatch.setenv("FILOT_GATE_DEADLINE", "soon")
    result = gate_project(**ONE_TEST).runpytest()
    result.stderr.fnmatch_lines(["*setting gate_deadline (env FILOT_GATE_DEADLINE): expected a number of seconds, got 'soon'*"])
    assert result.ret == 4


def test_help_needs_no_profile(gate_project):
    pytester = gate_project(**ONE_TEST)
    (pytester.path / "profiles" / "local.toml").unlink()
    result = pytester.runpytest("--help")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["FiLot deployment gate:"])


def test_unknown_gpu_rollback_strategy_names_the_known_ones(gate_project):
    pytester = gate_project('[rollback]\ngpu_worker = "reboot"\n', **ONE_TEST)
    result = pytester.runpytest()
    result.stderr.fnmatch_lines([
        "*setting gpu_rollback (profile local.toml [[]rollback.gpu_worker[]]): expected one of previous-revision, scale-to-zero, got 'reboot'*"
    ])


def test_unknown_redis_provider_is_a_usage_error_naming_the_known_ones(gate_project):
    result = gate_project('[redis]\nprovider = "elasticache"\n', **ONE_TEST).runpytest()
    result.stderr.fnmatch_lines(["*setting redis_provider (profile local.toml [[]redis.provider[]]):"
                                 " expected one of self-managed, upstash, got 'elasticache'*"])
    assert result.ret == 4


# --- the profile format (filot_gate/profile_schema.py) ---------------------------------------------

def test_a_string_where_true_or_false_is_expected_is_a_usage_error(gate_project):
    result = gate_project('[gpu]\nrequire_cuda = "false"\n', **ONE_TEST).runpytest()
    result.stderr.fnmatch_lines(["*profile *local.toml: [[]gpu[]] require_cuda: expected true or false,"
                                 " got 'false' (a string)"])
    assert result.ret == 4
    result.stderr.no_fnmatch_line("*Traceback*")


def test_a_deadline_that_is_not_a_number_is_a_usage_error_at_start(gate_project):
    result = gate_project('[deadlines]\njob_s = "x"\n', **ONE_TEST).runpytest()
    result.stderr.fnmatch_lines(["*profile *local.toml: [[]deadlines[]] job_s: expected a positive number of seconds,"
                                 " got 'x' (a string)"])
    assert result.ret == 4


def test_an_ignored_error_pattern_that_does_not_compile_is_a_usage_error_at_start(gate_project):
    result = gate_project('[logs]\nignored_errors = ["ECONNRESET (retrying"]\n', **ONE_TEST).runpytest()
    result.stderr.fnmatch_lines(["*profile *local.toml: [[]logs[]] ignored_errors: expected a list of regular"
                                 " expressions (Python re syntax), got *"])
    assert result.ret == 4


def test_an_unknown_key_names_the_known_keys_of_its_section(gate_project):
    result = gate_project('[rollback]\nmdoe = "auto"\n', **ONE_TEST).runpytest()
    result.stderr.fnmatch_lines(["*profile *local.toml: [[]rollback[]] mdoe: unknown key (did you mean mode?);"
                                 " known keys: mode, gpu_worker, on_inconclusive"])
    assert result.ret == 4


def test_an_unknown_section_names_the_known_sections(gate_project):
    result = gate_project("[gpux]\nrequire_cuda = true\n", **ONE_TEST).runpytest()
    result.stderr.fnmatch_lines(["*profile *local.toml: [[]gpux[]]: unknown section (did you mean [[]gpu[]]?);"
                                 " known sections: [[]target[]], [[]aws[]], *[[]gpu[]], [[]gates[]]*"])
    assert result.ret == 4


def test_not_required_names_only_gates(gate_project):
    result = gate_project('[gates]\nnot_required = ["gpux"]\n', **ONE_TEST).runpytest()
    result.stderr.fnmatch_lines(["*profile *local.toml: [[]gates[]] not_required: expected a list of gate names"
                                 " (preflight, infra, gpu, e2e), got unknown gate 'gpux' (did you mean gpu?)"])
    assert result.ret == 4


def test_every_mistake_is_listed_and_a_secret_value_is_not_shown(gate_project):
    pytester = gate_project('[e2e]\nmax_documents = 2.5\n', **ONE_TEST)
    profile = pytester.path / "profiles" / "local.toml"
    profile.write_text(profile.read_text().replace("[target]\n", '[target]\nredis_url = ["redis://:hunter2@db"]\n'))
    result = pytester.runpytest()
    result.stderr.fnmatch_lines([
        "*profile *local.toml: [[]target[]] redis_url: expected a non-empty string, got a list (value not shown)",
        "profile *local.toml: [[]e2e[]] max_documents: expected a positive whole number, got 2.5 (a number)",
    ])
    result.stderr.no_fnmatch_line("*hunter2*")
    assert result.ret == 4


@pytest.mark.parametrize("path", sorted((REPO / "profiles").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_profile_follows_the_format(path):
    assert load_profile(path).path == path


def test_the_private_sandbox_profile_follows_the_format(tmp_path):
    sandbox = PrivateSandbox(tmp_path / "home", {"FILOT_SANDBOX_ALB_PORT": "1", "FILOT_SANDBOX_AWS_PORT": "2",
                                                    "FILOT_SANDBOX_EPR_ALB_PORT": "3"}, -1)
    for mode in ("off", "plan", "auto"):
        assert load_profile(sandbox.profile(tmp_path / f"{mode}.toml", rollback=mode)).name == "selftest-sandbox"


def test_every_profile_key_the_code_reads_is_in_the_format():
    read = {spec.profile_key for spec in SPECS if spec.profile_key}
    sources = [REPO / "conftest.py", *(REPO / "filot_gate").rglob("*.py"), *(REPO / "tests").rglob("*.py")]
    for source in sources:
        text = source.read_text()
        read |= set(re.findall(r"profile\.get\(\s*\"([a-z_0-9]+\.[a-z_0-9]+)\"", text))
        read |= {f"{section}.{key}" for section, key in re.findall(r"\.section\(\"([a-z_0-9]+)\"\)\.get\(\"([a-z_0-9]+)\"", text)}
    read |= {f"target.{name}" for name in ("check", "start", "stop")}  # TargetProcess reads them with an f-string
    assert len(read) > 20, f"expected the code to read more than 20 profile keys, found {sorted(read)}"
    unknown = read - set(profile_schema.keys())
    assert not unknown, f"profile_schema.SCHEMA: expected every key the code reads, missing {sorted(unknown)}"


def test_a_deploy_record_given_on_the_command_line_must_exist(gate_project):
    result = gate_project(**ONE_TEST).runpytest("--deploy-record=records/typo.json")
    result.stderr.fnmatch_lines(["*setting deploy_record (option --deploy-record): *records/typo.json does not exist;*"])
    assert result.ret == 4


def test_a_target_from_the_environment_is_named_so_and_a_directory_is_not_a_profile(gate_project, monkeypatch):
    pytester = gate_project(**ONE_TEST)
    monkeypatch.setenv("FILOT_GATE_TARGET", "prod")
    result = pytester.runpytest()
    result.stderr.fnmatch_lines(["*env FILOT_GATE_TARGET: unknown target 'prod': no profile *prod.toml; known targets: local*"])
    assert result.ret == 4
    monkeypatch.delenv("FILOT_GATE_TARGET")
    result = pytester.runpytest(f"--target={pytester.path / 'profiles'}")
    result.stderr.fnmatch_lines(["*--target: *profiles is a directory; expected a profile TOML file*"])
    assert result.ret == 4
