"""One gate run per environment: a second run is refused naming the holder; the lock is released
after a run; an unreachable Redis lets the run go on and says the lock was not taken (pytester)."""

from __future__ import annotations

import json

from selftests.services import redis_server  # noqa: F401 - fixture

ONE_TEST = {"test_one": "import pytest\n\n@pytest.mark.preflight\ndef test_ok():\n    pass\n"}
LOCK_KEY = "filot:gate:lock:unit-env"



def project(gate_project, url: str):
    """The base profile turns the lock off; this one replaces [lock] and names a Redis."""
    pytester = gate_project(**ONE_TEST)
    profile = pytester.path / "profiles" / "local.toml"
    text = profile.read_text().replace("[lock]\nenabled = false\n", "")
    text = text.replace('[target]\nname = "unit"\n', f'[target]\nname = "unit"\nenvironment = "unit-env"\nredis_url = "{url}"\n')
    profile.write_text(text + "[lock]\nenabled = true\nttl_s = 60\n")
    return pytester


def test_second_run_is_refused_and_names_the_holder(gate_project, redis_server):
    client = redis_server.client()
    client.set(LOCK_KEY, "run-of-someone-else", ex=60)
    try:
        result = project(gate_project, redis_server.url).runpytest()
    finally:
        client.delete(LOCK_KEY)
    assert result.ret == 4
    refusal = "*environment 'unit-env' is being gated by run run-of-someone-else (Redis key filot:gate:lock:unit-env, expires in *s)*"
    result.stderr.fnmatch_lines([f"ERROR: {refusal}"])
    output = result.stdout.lines + result.stderr.lines
    assert len([line for line in output if "is being gated by run" in line]) == 1, "the refusal is said once:\n" + "\n".join(output)
    assert client.get(LOCK_KEY) is None


def test_lock_is_taken_during_the_run_and_released_after(gate_project, redis_server):
    pytester = project(gate_project, redis_server.url)
    pytester.makepyfile(test_one="""
        import pytest, redis

        @pytest.mark.preflight
        def test_lock_held_while_running(pytestconfig):
            from filot_gate.plugin import run_key
            run = pytestconfig.stash[run_key]
            holder = redis.Redis.from_url("%s", decode_responses=True).get("%s")
            assert holder == run.run_id, f"lock holder {holder}, this run {run.run_id}"
    """ % (redis_server.url, LOCK_KEY))
    result = pytester.runpytest()
    assert result.ret == 0, result.stdout.str()
    assert redis_server.client().get(LOCK_KEY) is None
    lock = json.loads((pytester.path / "reports" / "summary.json").read_text())["lock"]
    assert (lock["held"], lock["detail"]) == (False, "released")


def test_a_run_that_lost_its_lock_does_not_roll_back_automatically(gate_project, redis_server):
    pytester = project(gate_project, redis_server.url)
    pytester.makepyfile(test_one="""
        import pytest, redis

        @pytest.mark.infra
        def test_outlives_its_lock():
            # the lock's TTL passed and another run took it
            redis.Redis.from_url("%s").set("%s", "run-of-someone-else", ex=60)
            assert False, "ECS service api-service: deployment FAILED"
    """ % (redis_server.url, LOCK_KEY))
    pytester.makeconftest("""
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_filot_gate_rollback(config, trigger):
            print("ROLLBACK HOOK CALLED")
    """)
    try:
        result = pytester.runpytest("--rollback=auto", "-s")
    finally:
        holder = redis_server.client().get(LOCK_KEY)
        redis_server.client().delete(LOCK_KEY)
    assert holder == "run-of-someone-else", f"{LOCK_KEY}: the other run's lock must stay, got holder {holder!r}"
    result.stdout.no_fnmatch_line("*ROLLBACK HOOK CALLED*")
    result.stdout.fnmatch_lines(["*rollback ?: refused (auto) gate infra failed, but the gate lock was lost:"
                                 " its TTL passed and run run-of-someone-else holds filot:gate:lock:unit-env now*"])


def test_unreachable_redis_runs_without_the_lock_and_says_so(gate_project):
    result = project(gate_project, "redis://127.0.0.1:9/0").runpytest()
    result.stdout.fnmatch_lines(["*lock filot:gate:lock:unit-env: not taken: Redis unreachable (ConnectionError*"])
    assert result.ret == 0
