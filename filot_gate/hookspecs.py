"""Hooks the gate offers to teams (added with ``pytest_addhooks``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from filot_gate.rollback import RollbackAction, RollbackTrigger


@pytest.hookspec(firstresult=True)
def pytest_filot_gate_rollback(config: pytest.Config, trigger: "RollbackTrigger") -> "list[RollbackAction] | None":
    """Undo the deployment after a no-go (or an inconclusive run where the profile says so).

    Called once per run, in the controller process, after every test of the failing gate has
    reported (its evidence is collected) and also when the run is interrupted after a failure.
    ``trigger.mode`` is ``plan`` (say exactly what would be done, change nothing) or ``auto``.
    Return the actions taken or planned; the first implementation that returns a list wins, so a
    team's ``tryfirst`` implementation replaces the built-in ECS rollback. Return ``None`` to let
    the next implementation act.
    """


@pytest.hookspec
def pytest_filot_gate_summary(config: pytest.Config, summary: dict) -> None:
    """Add to (or read) ``summary.json`` just before it is written; masking applies afterwards."""
