"""Options, profiles and their errors: precedence, sources in the header, usage errors (pytester)."""

from __future__ import annotations

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
