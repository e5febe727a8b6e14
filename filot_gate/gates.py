"""The four gates, their order, and how test reports add up to gate statuses and a verdict.

DESIGN.md section 4: a gate is ``passed`` when none of its tests failed or errored (and not every
test was skipped, unless the gate is not required); ``failed`` means the deployment is wrong,
``error`` that the gate could not observe, ``blocked`` that an earlier gate failed, ``incomplete``
that the run was interrupted (Ctrl-C, SIGTERM, its deadline) before all its tests ran. The run is
``go`` only when every selected gate passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

GATES = ("preflight", "infra", "gpu", "e2e")
GATE_DESCRIPTIONS = {
    "preflight": "before deploy: secrets, Redis, database, ECR, clusters, ASG, IAM, manifests",
    "infra": "after deploy: ECS services, ALB targets, log groups, alarms and dashboards",
    "gpu": "after deploy: the OCR worker runs on a GPU instance, polls the queue and answers a job",
    "e2e": "after deploy: a KTP through FiLot end to end, decision paths, BULI2, security checks",
}
#: Gates that run against a deployment (a failure there is a post-deploy failure).
POST_DEPLOY_GATES = ("infra", "gpu", "e2e")

PASSED, FAILED, ERROR, BLOCKED, SKIPPED, NOT_SELECTED, INCOMPLETE = (
    "passed", "failed", "error", "blocked", "skipped", "not selected", "incomplete",
)
GO, NO_GO, INCONCLUSIVE = "go", "no-go", "inconclusive"


@dataclass
class GateTally:
    """What happened to the tests of one gate."""

    name: str
    required: bool = True
    selected: int = 0
    passed: int = 0
    failed: int = 0
    error: int = 0
    skipped: int = 0
    blocked: int = 0
    #: selected but never reported (the run was interrupted first)
    not_run: int = 0
    started: float | None = None
    finished: float | None = None
    failures: list[dict[str, str]] = field(default_factory=list)
    skip_reasons: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.selected == 0:
            return NOT_SELECTED
        if self.failed:
            return FAILED
        if self.error:
            return ERROR
        if self.not_run:
            return INCOMPLETE
        if self.blocked:
            return BLOCKED
        if self.passed == 0:
            return PASSED if not self.required else SKIPPED
        return PASSED

    @property
    def duration_s(self) -> float:
        if self.started is None or self.finished is None:
            return 0.0
        return round(self.finished - self.started, 3)

    def as_dict(self) -> dict:
        return {
            "status": self.status,
            "required": self.required,
            "counts": {
                "selected": self.selected,
                "passed": self.passed,
                "failed": self.failed,
                "error": self.error,
                "skipped": self.skipped,
                "blocked": self.blocked,
                "notRun": self.not_run,
            },
            "durationS": self.duration_s,
            "failures": self.failures,
            "skipReasons": sorted(set(self.skip_reasons)),
        }


def verdict(tallies: Iterable[GateTally], interrupted: bool = False) -> str:
    """go only when every selected gate passed; any failure is no-go; anything else inconclusive."""
    statuses = [t.status for t in tallies if t.status != NOT_SELECTED]
    if FAILED in statuses:
        return NO_GO
    if interrupted or not statuses or any(s != PASSED for s in statuses):
        return INCONCLUSIVE
    return GO
