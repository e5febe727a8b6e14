"""The sandbox's long-running components (Redis, PostgreSQL, the BULI2 simulator, Temporal when FiLot uses
it, the controller with the AWS endpoint and the tasks), where each listens, and the check a command makes before it
talks to one: a component that is not running is a ``NotRunning`` naming it, not a connection error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sandbox import datastores
from sandbox.config import SandboxConfig
from sandbox.processes import Managed, SandboxError, port_open
from sandbox.temporal_server import temporal_process

#: The components, in start order; ``Fault.needs`` and ``up``'s restarted set use these names.
NAMES = ("redis", "postgres", "buli2", "temporal", "controller")


class NotRunning(SandboxError):
    """A component a command needs is not running; the message names it, its address and the fix."""


def controller_process(config: SandboxConfig) -> Managed:
    return Managed("controller", config.run_dir, config.logs_dir / "controller.log")


def buli2_process(config: SandboxConfig) -> Managed:
    return Managed("buli2", config.run_dir, config.logs_dir / "buli2.log")


@dataclass(frozen=True)
class Component:
    name: str
    managed: Managed
    port: int
    #: what ``status`` shows and an error names: host:port, or the URL clients use
    address: str

    def running(self, config: SandboxConfig) -> bool:
        """Its process is alive and its port accepts connections."""
        return self.managed.pid() is not None and port_open(config.host, self.port)


def components(config: SandboxConfig) -> dict[str, Component]:
    """The components this sandbox runs (Temporal only where ``config.temporal``), in start order."""
    every = {
        "redis": Component("redis", datastores.redis_process(config), config.redis_port,
                           f"{config.host}:{config.redis_port}"),
        "postgres": Component("postgres", datastores.postgres_process(config), config.postgres_port,
                              f"{config.host}:{config.postgres_port}"),
        "buli2": Component("buli2", buli2_process(config), config.buli2_port, config.buli2_url),
        "temporal": Component("temporal", temporal_process(config), config.temporal_port, config.temporal_endpoint),
        "controller": Component("controller", controller_process(config), config.aws_port, config.aws_endpoint_url),
    }
    return {name: c for name, c in every.items() if name != "temporal" or config.temporal}


def require_running(config: SandboxConfig, needs: Iterable[str]) -> None:
    """Raise ``NotRunning`` when a component in ``needs`` is down, before anything is changed."""
    every = components(config)
    unknown = sorted(set(needs) - set(every))
    if unknown:
        raise ValueError(f"unknown sandbox components {unknown}; known: {', '.join(every)}")
    down = [every[name] for name in needs if not every[name].running(config)]
    if not down:
        return
    named = ", ".join(f"{c.name} down at {c.address}" for c in down)
    if all(c.managed.pid() is None for c in every.values()):
        raise NotRunning(f"the sandbox is not running ({named}); start it with python -m sandbox up")
    raise NotRunning(f"part of the sandbox is not running ({named}); start it again with python -m sandbox up"
                     " (it starts only what is missing)")
