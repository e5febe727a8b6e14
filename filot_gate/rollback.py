"""Rollback: the built-in ECS implementation of the ``pytest_filot_gate_rollback`` hook.

Per service of the deploy record, back to the task-definition revision that was live before the
deploy (or the newest older ACTIVE revision of the family when the record does not say), or the GPU
worker scaled to zero when the profile says so. It acts only where there is something to undo, at
most once per service per run, re-reads the live state first, and in ``auto`` waits until the
service is stable on the old revision. The AWS calls come from ``filot_gate.deploy`` (the same
library the deploy step uses).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest


@dataclass(frozen=True)
class RollbackTrigger:
    """Why the rollback runs: the failing gate, its failures, the verdict and the mode."""

    gate: str
    verdict: str
    mode: str  # "plan" | "auto"
    failures: list[dict[str, str]]
    deploy_record: dict[str, Any] | None
    interrupted: bool
    progress: Callable[[str], None] = print


@dataclass
class RollbackAction:
    """One service's rollback: what was (or would be) called, and what came of it."""

    service: str
    mode: str
    outcome: str  # planned | rolled-back | nothing-to-undo | failed
    detail: str
    calls: list[str] = field(default_factory=list)
    before_arn: str | None = None
    after_arn: str | None = None
    duration_s: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def load_deploy_record(path: Path | None) -> dict[str, Any] | None:
    """The deploy record, or None when there is none; a malformed one is a usage error."""
    if path is None or not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except ValueError as exc:
        raise pytest.UsageError(f"deploy record {path} is not valid JSON: {exc}") from None
    if not isinstance(record, dict) or not isinstance(record.get("services"), dict):
        raise pytest.UsageError(f"deploy record {path} has no 'services' object (expected the deploy step's record)")
    return record


class EcsRollback:
    """The built-in implementation; registered by the gate, replaced by any tryfirst implementation."""

    def __init__(self, target_factory: Callable[[], Any], gpu_strategy: str, stable_deadline_s: float) -> None:
        self.target_factory = target_factory
        self.gpu_strategy = gpu_strategy
        self.stable_deadline_s = stable_deadline_s
        self.done: set[str] = set()

    @pytest.hookimpl(trylast=True)
    def pytest_filot_gate_rollback(self, config: pytest.Config, trigger: RollbackTrigger) -> list[RollbackAction]:
        if trigger.deploy_record is None:
            return [RollbackAction("*", trigger.mode, "nothing-to-undo", "no deploy record: nothing is known to have been deployed")]
        if accepted_by := trigger.deploy_record.get("acceptedBy"):
            # a record left from an earlier deploy that a gate run accepted: undoing it now (the next
            # deploy's preflight failed, say) would take away the state everybody agreed on
            return [RollbackAction("*", trigger.mode, "nothing-to-undo",
                                   f"deploy {trigger.deploy_record.get('runId')} was accepted by gate run {accepted_by}"
                                   " (go on every post-deploy gate); a later failure does not undo it")]
        from filot_gate import deploy

        ecs = self.target_factory().client("ecs")
        actions = []
        for name, record in trigger.deploy_record["services"].items():
            if name in self.done:
                continue
            self.done.add(name)
            strategy = self.gpu_strategy if name == "ocr-gpu" else "previous-revision"
            try:
                actions.append(self._one(deploy, ecs, name, record, strategy, trigger))
            except Exception as exc:  # noqa: BLE001 - one service's failed rollback must not skip the others
                detail = f"{strategy} of {record.get('service', name)}: {type(exc).__name__}: {exc}"
                trigger.progress(f"rollback {name} ({trigger.mode}) failed: {detail}")
                actions.append(RollbackAction(name, trigger.mode, "failed", detail))
        return actions

    def _one(self, deploy: Any, ecs: Any, name: str, record: dict, strategy: str, trigger: RollbackTrigger) -> RollbackAction:
        """Plan (re-reading the live service first), print, and in auto mode execute and wait for stability."""
        started = time.monotonic()
        from filot_gate.deploy.state import describe_service

        before = describe_service(ecs, record["cluster"], record["service"])["taskDefinition"]
        try:
            calls = deploy.plan_rollback(ecs, record, strategy=strategy)
        except deploy.RollbackRefused as exc:
            return RollbackAction(name, trigger.mode, "refused", str(exc), before_arn=before)
        if not calls:
            return RollbackAction(name, trigger.mode, "nothing-to-undo",
                                  f"{record['service']} already runs {before.rsplit('/', 1)[-1]} ({strategy})", before_arn=before)
        action = RollbackAction(name, trigger.mode, "planned", f"{strategy} of {record['service']}",
                                [c.cli() for c in calls], before_arn=before)
        for line in action.calls:
            trigger.progress(f"rollback {name} ({trigger.mode}): {line}")
        if trigger.mode != "auto":
            return action
        try:
            deploy.execute(ecs, calls)
            state = deploy.wait_for_stable(ecs, record["cluster"], record["service"], **deploy.expected_after(calls),
                                           deadline_s=self.stable_deadline_s, poll_s=2.0, progress=trigger.progress)
        except deploy.DeployError as exc:
            action.outcome, action.detail = "failed", f"{action.detail}: {exc}"
        else:
            action.outcome, action.after_arn = "rolled-back", state.service["taskDefinition"]
            action.detail += f": stable on {action.after_arn.rsplit('/', 1)[-1]}"
        action.duration_s = round(time.monotonic() - started, 1)
        return action
