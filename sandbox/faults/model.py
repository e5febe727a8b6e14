"""What a sandbox fault is: a name, what it breaks, which gate check it makes fail, and the two
steps that break and restore it through the interfaces a real incident would go through."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from sandbox.faults.context import FaultContext

#: What an injection keeps for its heal (written to faults.json: never a secret value).
Saved = dict[str, Any]


class FaultError(Exception):
    """A fault could not be injected or healed; the message says what was expected and what was seen."""


@dataclass(frozen=True)
class Fault:
    name: str
    #: what it breaks, as an operator would say it
    breaks: str
    #: the gate check(s) it must make fail
    fails: str
    #: breaks it; what the heal needs is kept with ``FaultContext.keep`` before each change (or returned)
    inject: Callable[["FaultContext"], Saved | None]
    heal: Callable[["FaultContext", Saved], None]
    #: the component whose restart undoes the fault ("controller": AWS is re-seeded from the manifests
    #: and every task restarted; "redis": its config file is written anew; "buli2": the simulator
    #: starts in normal mode); None when the broken state is stored (PostgreSQL, Redis data)
    undone_by: str | None = "controller"
    #: the components (``sandbox.components.NAMES``) it is injected and healed through: both refuse to
    #: start, naming the one that is down, unless these run ("controller": the AWS endpoint and the tasks)
    needs: tuple[str, ...] = ("controller",)

    def line(self) -> str:
        """One line of ``fault --list``."""
        return f"{self.name:<34} {self.breaks}  -> fails {self.fails}"
