"""What the fault selftests of the preflight and infra gates share: a private sandbox per module, the
ways to break it (a ``python -m sandbox fault``, a deploy), and one narrowed gate run per fault that must
fail exactly the fault's checks with its message and the verdict no-go.

A fault is ``python -m sandbox fault NAME`` (healed with ``python -m sandbox heal NAME``; both called in
this process), or a bad
deploy made with ``python -m sandbox deploy`` and healed by deploying the manifest again, as an
operator would. The modules that use it (``test_faults_preflight.py``, ``test_faults_infra.py``) run
on xdist workers of their own, each with its own sandbox.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager, Iterator

import pytest

from sandbox import faults
from selftests.sandbox_fixture import REPO, PrivateSandbox, start_private_sandbox, stop_private_sandbox

#: Deadline of the start-up-lines check in these runs: long enough for log delivery on a healthy
#: sandbox, short enough that a fault which removes the lines costs seconds.
LOG_DELIVERY_S = 10


def run_sandbox_cli(sandbox: PrivateSandbox, *args: str) -> subprocess.CompletedProcess:
    """``python -m sandbox ...``; deploys join the sandbox's deploy run, so the record keeps every service."""
    record = json.loads((sandbox.home / "deploy-record.json").read_text())
    return subprocess.run([sys.executable, "-m", "sandbox", *args], cwd=REPO, capture_output=True, text=True,
                          env={**sandbox.env, "FILOT_DEPLOY_RUN_ID": record["runId"]}, timeout=300)


def sandbox_cli(sandbox: PrivateSandbox, *args: str) -> None:
    """``python -m sandbox ...`` that must succeed."""
    result = run_sandbox_cli(sandbox, *args)
    assert result.returncode == 0, f"python -m sandbox {' '.join(args)}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"


# --- faults: each a context manager that breaks one thing and heals it on exit ----------------------


@contextmanager
def named_fault(sandbox: PrivateSandbox, name: str) -> Iterator[None]:
    """``python -m sandbox fault NAME``, healed with ``heal NAME``: called in this process, as the CLI calls
    them (``test_sandbox_cli.py`` runs the CLI itself). A CLI process per step cost a second of CPU each,
    which a 2-core machine running four sandboxes pays in wall time."""
    faults.inject(sandbox.config, name, say=lambda line: None)
    try:
        yield
    finally:
        faults.heal(sandbox.config, name, say=lambda line: None)


@contextmanager
def deployed(sandbox: PrivateSandbox, service: str, setting: str) -> Iterator[None]:
    """A revision of ``service`` with one more environment variable; healed by deploying the manifest again."""
    sandbox_cli(sandbox, "deploy", "--service", service, "--set", setting, "--no-wait")
    try:
        yield
    finally:
        sandbox_cli(sandbox, "deploy", "--service", service)


@dataclass(frozen=True)
class Fault:
    """A way to break one check, and what the gate must then say."""

    name: str
    gate: str
    #: node ids (relative to tests/<gate>/) that must fail, and nothing else; ``*`` matches anything.
    #: The gate run is narrowed to their modules.
    fails: tuple[str, ...]
    #: text the failure messages must contain
    message: str
    #: tests that cannot observe under this fault (an error, not a failure), e.g. a client that cannot connect
    errors: tuple[str, ...] = ()
    #: the operator's change; None: ``python -m sandbox fault <name>``
    make: Callable[[PrivateSandbox], ContextManager[None]] | None = None

    @property
    def modules(self) -> list[str]:
        return sorted({f"tests/{self.gate}/{pattern.split('::')[0]}" for pattern in self.fails})


def matches(nodeid: str, pattern: str) -> bool:
    """``*`` is a wildcard; everything else, brackets of parameter ids included, is literal."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), nodeid) is not None


def unmatched(nodeids: list[str], patterns: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(node ids no pattern matches, patterns no node id matches)."""
    return ([n for n in nodeids if not any(matches(n, p) for p in patterns)],
            [p for p in patterns if not any(matches(n, p) for n in nodeids)])


@pytest.fixture(scope="module")
def sandbox() -> Iterator[PrivateSandbox]:
    box = start_private_sandbox()
    yield box
    stop_private_sandbox(box)


@pytest.fixture(scope="module")
def profile(sandbox, tmp_path_factory) -> Path:
    path = sandbox.profile(tmp_path_factory.mktemp("profile") / "selftest.toml")
    path.write_text(path.read_text().replace("[deadlines]\n", f"[deadlines]\nlogs_s = {LOG_DELIVERY_S}\n"))
    return path


def run_gate(sandbox: PrivateSandbox, profile: Path, reports: Path, gates: str, *paths: str) -> tuple[subprocess.CompletedProcess, dict]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", f"--target={profile}", f"--gate-reports={reports}",
         f"--html={reports}/gate-report.html", f"--junitxml={reports}/junit.xml",
         f"--alluredir={reports}/allure-results", "-p", "no:logging", "-q", "-m", gates, *paths],
        cwd=REPO, env=sandbox.env, capture_output=True, text=True, timeout=300,
    )
    summary = reports / "summary.json"
    assert summary.exists(), f"the gate wrote no summary (exit {result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}"
    return result, json.loads(summary.read_text())


def assert_go(sandbox: PrivateSandbox, profile: Path, reports: Path) -> None:
    result, summary = run_gate(sandbox, profile, reports, "preflight or infra", "tests/preflight", "tests/infra")
    assert summary["verdict"] == "go", result.stdout[-4000:]
    assert [summary["gates"][g]["status"] for g in ("preflight", "infra")] == ["passed", "passed"]


def assert_fails_exactly_its_check(sandbox: PrivateSandbox, profile: Path, reports: Path, fault: Fault) -> None:
    """Break, run the fault's gate narrowed to its modules, heal; exactly the fault's checks failed."""
    with fault.make(sandbox) if fault.make else named_fault(sandbox, fault.name):
        result, summary = run_gate(sandbox, profile, reports, fault.gate, *fault.modules)
    gate = summary["gates"][fault.gate]
    relative = {f["test"]: f["test"].split(f"tests/{fault.gate}/", 1)[-1] for f in gate["failures"]}
    failed = sorted(relative[f["test"]] for f in gate["failures"] if f["outcome"] == "failed")
    errors = sorted(relative[f["test"]] for f in gate["failures"] if f["outcome"] != "failed")
    context = f"fault {fault.name}: failed {failed}, errors {errors}\n{result.stdout[-4000:]}"
    assert (summary["verdict"], gate["status"], result.returncode) == ("no-go", "failed", 1), context
    assert unmatched(failed, fault.fails) == ([], []), f"(unexpected failures, expected but passed); {context}"
    assert not unmatched(errors, fault.errors)[0], f"unexpected errors; {context}"
    messages = "\n".join(f["message"] for f in gate["failures"])
    assert fault.message in messages, f"expected {fault.message!r} in the failure messages:\n{messages}"
