"""Start long-running processes detached, find them again by pid file, stop them within a deadline.

This is what keeps the sandbox's components alive after ``python -m sandbox up`` returns, and what
``down`` uses so that no orphan is left behind.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed


class SandboxError(Exception):
    """A sandbox step failed; the message says which component, what was expected and what happened."""


@dataclass(frozen=True)
class Managed:
    """A detached process the sandbox owns: its name, pid file and log file."""

    name: str
    run_dir: Path
    log_file: Path

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if is_alive(pid) else None

    def start(self, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            try:
                process = subprocess.Popen(
                    list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True,
                )
            except FileNotFoundError:
                raise SandboxError(f"{self.name}: program {argv[0]!r} not found; run `make setup`") from None
        self.pid_file.write_text(str(process.pid))
        return process.pid

    def stop(self, deadline_s: float = 20.0) -> bool:
        """SIGTERM the process group, SIGKILL it after the deadline; True when something was stopped."""
        pid = self.pid()
        self.pid_file.unlink(missing_ok=True)
        if pid is None:
            return False
        stop_process_group(pid, deadline_s)
        return True


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"  # a zombie is not alive
    except OSError:
        return False


#: Seconds between SIGTERM and SIGKILL when a task stops: ECS's default ``stopTimeout``, which leaves
#: the OCR worker its 25 s to finish the jobs it holds.
ECS_STOP_TIMEOUT_S = 30.0
#: ``down``'s wait for the controller, which first stops every task (one ECS_STOP_TIMEOUT_S for all).
CONTROLLER_STOP_S = ECS_STOP_TIMEOUT_S + 15.0


def stop_process_group(pid: int, deadline_s: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        if wait_until(lambda: not is_alive(pid), deadline_s, poll_s=0.1):
            return


def wait_until(condition: Callable[[], bool], deadline_s: float, poll_s: float = 0.2) -> bool:
    """Poll ``condition`` until it holds or the deadline passes; returns whether it held."""
    retrying = Retrying(
        stop=stop_after_delay(deadline_s),
        wait=wait_fixed(poll_s),
        retry=retry_if_result(lambda ok: not ok),
        retry_error_callback=lambda state: False,
    )
    return retrying(condition)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def port_free(host: str, port: int) -> bool:
    """Whether a listener could bind ``host:port`` now."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def require_port_free(name: str, host: str, port: int) -> None:
    """Refuse to start on a port something else holds, naming the port and how to change it."""
    if not port_free(host, port):
        env = f"FILOT_SANDBOX_{name.upper().replace('-', '_')}_PORT"
        raise SandboxError(
            f"{name}: port {host}:{port} is already in use by another process; stop it"
            f" (`ss -ltnp 'sport = :{port}'` shows which) or set {env}"
        )


def wait_ready(name: str, managed: Managed, ready: Callable[[], bool], deadline_s: float) -> None:
    """Wait for a started component; if it dies or the deadline passes, say so with its last log lines."""
    started = time.monotonic()
    ok = wait_until(lambda: ready() or managed.pid() is None, deadline_s)
    if ok and managed.pid() is not None:
        return
    state = "exited" if managed.pid() is None else f"not ready after {time.monotonic() - started:.0f}s"
    raise SandboxError(f"{name} {state}; last lines of {managed.log_file}:\n{tail(managed.log_file)}")


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
