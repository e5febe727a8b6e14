"""``python -m sandbox`` as an operator meets it with no sandbox running: ``fault``, ``heal`` and
``deploy`` refuse in one line naming the component that is down (exit 3, as ``status``), and output
cut short by its reader (``status | head -1``) ends quietly. Nothing here starts a sandbox: each test
gets its own state directory and ports nothing listens on."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.components import NotRunning, require_running
from sandbox.config import SandboxConfig
from sandbox.credentials import load_or_create
from selftests.services import free_port

REPO = Path(__file__).resolve().parent.parent
NOT_RUNNING = 3
BROKEN_PIPE = 141  # 128 + SIGPIPE, what `yes | head -1` leaves


@pytest.fixture
def stopped(tmp_path: Path) -> dict[str, str]:
    """The environment of a sandbox that ran once and is down now (credentials and an active fault
    left in its state directory), on ports nothing listens on."""
    ports = {name: free_port() for name in ("aws", "redis", "postgres", "alb", "buli2")}
    config = SandboxConfig(home=tmp_path / "home", **{f"{name}_port": port for name, port in ports.items()})
    load_or_create(config)
    config.run_dir.mkdir(parents=True, exist_ok=True)
    (config.run_dir / "faults.json").write_text(json.dumps({"redis-eviction-policy": {"since": "2026-01-01T00:00:00Z", "saved": {}}}))
    return {**os.environ, "FILOT_SANDBOX_HOME": str(config.home),
            **{f"FILOT_SANDBOX_{name.upper()}_PORT": str(port) for name, port in ports.items()}}


def sandbox_cli(env: dict[str, str], *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sandbox", *args], cwd=REPO, env=env, text=True, timeout=60,
                          **({"capture_output": True} | kwargs))


@pytest.mark.parametrize(
    ("args", "down"),
    [
        (("fault", "redis-aof-off"), "redis down at 127.0.0.1:{REDIS}"),
        (("fault", "migration-missing"), "postgres down at 127.0.0.1:{POSTGRES}"),
        (("fault", "buli2-down"), "buli2 down at http://127.0.0.1:{BULI2}"),
        (("fault", "missing-secret"), "controller down at http://127.0.0.1:{AWS}"),
        (("heal", "redis-eviction-policy"), "redis down at 127.0.0.1:{REDIS}"),
        (("heal", "--all"), "redis down at 127.0.0.1:{REDIS}"),
        (("deploy", "--service", "backend"), "controller down at http://127.0.0.1:{AWS}"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else "",
)
def test_a_command_needing_a_stopped_sandbox_says_so_in_one_line(stopped: dict[str, str], args: tuple[str, ...],
                                                                 down: str) -> None:
    ports = {name: stopped[f"FILOT_SANDBOX_{name}_PORT"] for name in ("REDIS", "POSTGRES", "BULI2", "AWS")}
    done = sandbox_cli(stopped, *args)
    command = " ".join(args[:2]) if args[0] != "deploy" else "deploy"
    expected = (f"sandbox {command}: the sandbox is not running ({down.format(**ports)});"
                " start it with python -m sandbox up\n")
    assert (done.returncode, done.stderr) == (NOT_RUNNING, expected), \
        f"python -m sandbox {' '.join(args)}: expected exit {NOT_RUNNING} and {expected!r}," \
        f" got exit {done.returncode} and stderr:\n{done.stderr}"
    assert done.stdout == "", f"python -m sandbox {' '.join(args)}: expected no output, got:\n{done.stdout}"


def test_heal_of_an_inactive_fault_needs_no_sandbox(stopped: dict[str, str]) -> None:
    done = sandbox_cli(stopped, "heal", "redis-no-auth")
    assert (done.returncode, done.stdout) == (0, "fault redis-no-auth is not active; nothing to heal\n"), \
        f"heal redis-no-auth: expected exit 0 and 'not active', got exit {done.returncode}:\n{done.stdout}{done.stderr}"


def test_only_the_component_that_is_down_is_named_when_the_rest_runs(tmp_path: Path) -> None:
    with socket.socket() as redis_stand_in:
        redis_stand_in.bind(("127.0.0.1", 0))
        redis_stand_in.listen()
        config = SandboxConfig(home=tmp_path, redis_port=redis_stand_in.getsockname()[1], postgres_port=free_port())
        config.run_dir.mkdir(parents=True)
        (config.run_dir / "redis.pid").write_text(str(os.getpid()))  # a live pid, a listening port: running
        require_running(config, ("redis",))
        with pytest.raises(NotRunning) as refused:
            require_running(config, ("redis", "postgres"))
    expected = (f"part of the sandbox is not running (postgres down at 127.0.0.1:{config.postgres_port});"
                " start it again with python -m sandbox up (it starts only what is missing)")
    assert str(refused.value) == expected, f"require_running: expected {expected!r}, got {str(refused.value)!r}"


def test_status_into_a_closed_pipe_exits_quietly(stopped: dict[str, str]) -> None:
    reader, writer = os.pipe()
    os.close(reader)  # `| head -1` gone before status writes: every write fails with EPIPE
    try:
        done = sandbox_cli(stopped, "status", stdout=writer, stderr=subprocess.PIPE, capture_output=False)
    finally:
        os.close(writer)
    assert (done.returncode, done.stderr) == (BROKEN_PIPE, ""), \
        f"status into a closed pipe: expected exit {BROKEN_PIPE} and no stderr, got exit {done.returncode}:\n{done.stderr}"
