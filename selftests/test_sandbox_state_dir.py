"""``python -m sandbox up`` with a state directory its PostgreSQL (run as user postgres) cannot enter:
one precise line naming the directory and the fix, a non-zero exit, no traceback, nothing left running."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from selftests.sandbox_fixture import REPO
from selftests.services import free_port

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox runs PostgreSQL as user postgres only as root")


def sandbox_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sandbox", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)


def test_a_state_directory_postgres_cannot_enter_is_named_with_the_fix():
    closed = Path(tempfile.mkdtemp(prefix="filot-closed-"))  # mode 700, like `mktemp -d`, under the open /tmp
    env = {**os.environ, "FILOT_SANDBOX_HOME": str(closed / "home"),
           **{f"FILOT_SANDBOX_{name}_PORT": str(free_port()) for name in ("AWS", "REDIS", "POSTGRES", "ALB", "BULI2")}}
    try:
        started = sandbox_cli(env, "up")
    finally:
        sandbox_cli(env, "down")
        shutil.rmtree(closed, ignore_errors=True)
    output = started.stdout + started.stderr
    assert started.returncode != 0, f"sandbox up: expected a refusal, exit 0:\n{output}"
    expected = f"which cannot enter {closed} (mode 700, owner root); make it traversable (chmod o+x {closed})"
    assert expected in output and "Traceback" not in output, f"sandbox up: expected {expected!r}, got:\n{output}"
