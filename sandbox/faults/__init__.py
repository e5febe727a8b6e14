"""``python -m sandbox fault NAME | heal NAME | fault --list``: named, realistic faults in a running
sandbox, each made through the interface a real incident goes through (AWS APIs on the sandbox's
endpoint, Redis ``CONFIG SET``, SQL on the database, a signal to a task's processes, the BULI2
simulator's admin API), so that the emulated AWS, Redis and the API report what they would in
production, and the gate fails the check named in ``fault --list``.

Injecting an active fault and healing an inactive one change nothing (both are idempotent). Active
faults, with what each heal needs, are kept in ``<run dir>/faults.json``; ``up`` forgets those a
restart undid (see :attr:`Fault.undone_by`). An injection that fails part way (an error, a deadline,
Ctrl-C) is healed at once with what it had kept; if that heal fails too, the fault is recorded as half
made, so that ``status`` shows it and ``heal NAME`` tries again.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from sandbox.components import require_running
from sandbox.config import SandboxConfig
from sandbox.faults import aws, datastores, epr, processes, temporal
from sandbox.faults.context import FaultContext
from sandbox.faults.model import Fault, FaultError

__all__ = ["FAULTS", "FaultError", "active", "describe", "forget_undone", "heal", "heal_all", "inject"]

FAULTS: dict[str, Fault] = {f.name: f for f in [*aws.FAULTS, *datastores.FAULTS, *processes.FAULTS, *epr.FAULTS,
                                             *temporal.FAULTS]}
STATE_FILE = "faults.json"


def describe() -> list[str]:
    """One line per fault: name, what it breaks, which gate check fails."""
    return [fault.line() for fault in FAULTS.values()]


def active(config: SandboxConfig) -> dict[str, dict[str, Any]]:
    try:
        return json.loads((config.run_dir / STATE_FILE).read_text())
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise FaultError(f"{config.run_dir / STATE_FILE} is not valid JSON ({exc}); remove it after checking"
                         " by hand which faults are still in place") from None


def inject(config: SandboxConfig, name: str, say: Callable[[str], None] = print) -> None:
    fault = _known(name)
    state = active(config)
    if name in state:
        if state[name].get("halfMade"):
            raise FaultError(f"fault {name} is half made (since {state[name]['since']}: {state[name]['halfMade']});"
                             f" heal it first: python -m sandbox heal {name}")
        say(f"fault {name} is already active (since {state[name]['since']}); nothing changed")
        return
    ctx = _context(config, say, state, fault)
    try:
        returned = fault.inject(ctx) or {}
        saved = {**ctx.saved, **returned}
    except BaseException as failure:
        _undo_half_made(config, state, fault, ctx, failure)
        raise
    state[name] = {"since": _now(), "saved": saved}
    _write(config, state)
    say(f"fault {name} injected: {fault.breaks}; expect to fail: {fault.fails}")


def _undo_half_made(config: SandboxConfig, state: dict[str, Any], fault: Fault, ctx: FaultContext,
                    failure: BaseException) -> None:
    """Heal a fault whose injection failed part way, with what it kept. If that fails too and the injection had
    kept something (it keeps just before a change), record it as half made; a fault that kept nothing may have
    failed before any change (its heal then fails on the same missing thing), so it is reported, not recorded."""
    why = f"{type(failure).__name__}: {failure}".rstrip(": ")
    ctx.say(f"fault {fault.name}: the injection failed part way ({why}); undoing what it changed")
    try:
        fault.heal(ctx, ctx.saved)
    except BaseException as error:
        undo = f"the undo failed too ({type(error).__name__}: {error})"
        if not ctx.saved:
            ctx.say(f"fault {fault.name}: {undo}; it may have failed before changing anything, so it is not recorded:"
                    f" see `python -m sandbox status`, and `python -m sandbox down` then `up` start the sandbox afresh")
            return
        state[fault.name] = {"since": _now(), "saved": ctx.saved, "halfMade": why}
        _write(config, state)
        ctx.say(f"fault {fault.name}: {undo}; recorded as half made: `python -m sandbox heal {fault.name}` tries again")
    else:
        ctx.say(f"fault {fault.name}: undone; the sandbox is as it was before the injection")


def heal(config: SandboxConfig, name: str, say: Callable[[str], None] = print) -> None:
    fault = _known(name)
    state = active(config)
    if name not in state:
        say(f"fault {name} is not active; nothing to heal")
        return
    fault.heal(_context(config, say, state, fault), state[name].get("saved", {}))
    del state[name]
    _write(config, state)
    say(f"fault {name} healed")


def heal_all(config: SandboxConfig, say: Callable[[str], None] = print) -> None:
    for name in reversed(list(active(config))):
        heal(config, name, say)


def forget_undone(config: SandboxConfig, restarted: set[str]) -> list[str]:
    """After ``up`` started ``restarted`` components anew: drop the faults that undid; the rest stay."""
    state = {name: entry for name, entry in active(config).items()
             if name in FAULTS and FAULTS[name].undone_by not in restarted}
    _write(config, state)
    return list(state)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _known(name: str) -> Fault:
    if name not in FAULTS:
        raise FaultError(f"unknown fault {name!r}; known faults: {', '.join(FAULTS)} (python -m sandbox fault --list)")
    return FAULTS[name]


def _context(config: SandboxConfig, say: Callable[[str], None], state: dict[str, Any], fault: Fault) -> FaultContext:
    """The clients ``fault`` works with; ``components.NotRunning`` first if a component it needs is down."""
    require_running(config, fault.needs)
    ctx = FaultContext(config, say)
    ctx.active.update(state)
    return ctx


def _write(config: SandboxConfig, state: dict[str, Any]) -> None:
    path = config.run_dir / STATE_FILE
    if not state:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(path)
