"""A private sandbox for selftests: own state directory, ports and loopback subnets, so that it never
collides with a developer's sandbox nor with another selftest run (xdist workers, a second clone);
started once per module and always taken down."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import redis

from filot_contract import aws_names
from filot_gate.settings import load_profile
from sandbox.config import SandboxConfig
from sandbox.processes import port_free

REPO = Path(__file__).resolve().parent.parent
#: Task subnets a private sandbox may take (127.0.N.x to 127.0.N+2.x); the default sandbox uses 11 to 13.
SUBNET_BASES = range(100, 250, 3)
#: First port of the private sandboxes: below Linux's ephemeral range (32768-60999), so that no client
#: socket takes one between choosing and binding; each subnet base owns the next PORTS_PER_BASE ports.
PORT_BASE = 21000
PORTS_PER_BASE = 10


@dataclass
class PrivateSandbox:
    home: Path
    env: dict[str, str]
    #: the open lock file that reserves this sandbox's task subnets (closed by ``stop_private_sandbox``)
    subnet_lock: int
    #: service -> its boto3 client, one each, closed by ``stop_private_sandbox`` (an unclosed client's sockets,
    #: left to the garbage collector, fail whichever later test it runs in with a ResourceWarning)
    clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sandbox", *args], cwd=REPO, env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    @property
    def config(self) -> SandboxConfig:
        """The settings its CLI reads from ``env`` (``FILOT_SANDBOX_*``)."""
        prefix = "FILOT_SANDBOX_"
        return SandboxConfig(**{k[len(prefix):].lower(): v for k, v in self.env.items() if k.startswith(prefix)})

    @property
    def aws_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.env['FILOT_SANDBOX_AWS_PORT']}"

    @property
    def credentials(self) -> dict[str, str]:
        """The sandbox's own credentials (``credentials.json``), not the possibly broken secrets."""
        return json.loads((self.home / "credentials.json").read_text())

    def aws(self, service: str) -> Any:
        """The boto3 client of the sandbox's emulated AWS for ``service``."""
        if service not in self.clients:
            self.clients[service] = boto3.client(service, region_name="ap-southeast-2", endpoint_url=self.aws_endpoint,
                                                 aws_access_key_id="sandbox", aws_secret_access_key="sandbox")
        return self.clients[service]

    def redis(self) -> redis.Redis:
        """The sandbox's Redis over TLS, with its password."""
        return redis.Redis(host="127.0.0.1", port=int(self.env["FILOT_SANDBOX_REDIS_PORT"]),
                           password=self.credentials["REDIS_PASSWORD"], ssl=True, decode_responses=True,
                           ssl_ca_certs=str(self.home / "tls" / "ca.pem"))

    def profile(self, path: Path, rollback: str = "plan") -> Path:
        """A gate profile for this sandbox (the same keys as profiles/local.toml, other ports)."""
        path.write_text(f"""
[target]
name = "selftest-sandbox"
environment = "selftest-{self.home.name}"
api_url = "http://127.0.0.1:{self.env['FILOT_SANDBOX_ALB_PORT']}"
redis_ca_file = "{self.home / 'tls' / 'ca.pem'}"
[aws]
region = "ap-southeast-2"
endpoint_url = "{self.aws_endpoint}"
static_credentials = ["sandbox", "sandbox"]
role_arn = "arn:aws:iam::{self.config.account_id}:role/{aws_names.GATE_ROLE}"
[gpu]
require_cuda = false
[epr]
api_url = "http://127.0.0.1:{self.env['FILOT_SANDBOX_EPR_ALB_PORT']}"
[temporal]
enabled = true
tls = false
[rollback]
mode = "{rollback}"
[deploy]
record = "{self.home / 'deploy-record.json'}"
[deadlines]
stable_s = 120
job_s = 120
metric_max_age_s = {load_profile(REPO / "profiles" / "local.toml").get("deadlines.metric_max_age_s")}
""")
        return path


def listener_ports(subnet_base: int) -> dict[str, int]:
    """The ports that belong to one subnet base, by sandbox setting (``aws_port``, ...)."""
    first = PORT_BASE + (subnet_base - SUBNET_BASES.start) // SUBNET_BASES.step * PORTS_PER_BASE
    return {field: first + offset for offset, field in enumerate(SandboxConfig.LISTENER_PORTS)}


def reserve_subnets() -> tuple[int, int]:
    """(subnet base, lock fd): the first base no other live selftest sandbox holds (an flock per base,
    released by the kernel even when the holder dies) and whose ports are free (a killed run's
    processes may still hold them)."""
    for base in SUBNET_BASES:
        fd = os.open(Path(tempfile.gettempdir()) / f"filot-selftest-subnet-{base}.lock", os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if all(port_free("127.0.0.1", port) for port in listener_ports(base).values()):
            return base, fd
        os.close(fd)
    last_port = PORT_BASE + len(SUBNET_BASES) * PORTS_PER_BASE - 1
    raise RuntimeError(f"every private sandbox subnet ({SUBNET_BASES.start}..{SUBNET_BASES[-1] + 2}) or its ports"
                       f" ({PORT_BASE}..{last_port}) are taken")


def start_private_sandbox() -> PrivateSandbox:
    subnet_base, lock = reserve_subnets()
    home = Path(tempfile.mkdtemp(prefix="filot-sandbox-"))
    home.chmod(0o755)  # PostgreSQL runs as the postgres user and must reach its data directory
    env = {**os.environ, "FILOT_SANDBOX_HOME": str(home),
           "FILOT_SANDBOX_BACKEND_TASK_SUBNET": str(subnet_base), "FILOT_SANDBOX_GPU_TASK_SUBNET": str(subnet_base + 1),
           "FILOT_SANDBOX_EPR_TASK_SUBNET": str(subnet_base + 2)}
    env.update({f"FILOT_SANDBOX_{field.upper()}": str(port) for field, port in listener_ports(subnet_base).items()})
    sandbox = PrivateSandbox(home, env, lock)
    try:
        result = sandbox.cli("up")
    except subprocess.TimeoutExpired as exc:
        result = subprocess.CompletedProcess(exc.cmd, -1, "", f"sandbox up: {exc}")
    if result.returncode != 0:
        logs = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-1500:]}" for log in (home / "logs").glob("*.log"))
        stop_private_sandbox(sandbox)
        raise RuntimeError(f"private sandbox did not come up:\n{result.stdout}\n{result.stderr}\n{logs}")
    return sandbox


def stop_private_sandbox(sandbox: PrivateSandbox) -> None:
    for client in sandbox.clients.values():
        client.close()
    try:
        sandbox.cli("down", timeout=120)
    finally:
        shutil.rmtree(sandbox.home, ignore_errors=True)
        os.close(sandbox.subnet_lock)
