"""E2E step 7 (seed 000 section 7): Temporal workflows show correct transitions, where Temporal is used.

Whether it is used is the profile's ``[temporal] enabled``; the check also reads the backend's live
task definition, so that a deployment which turned Temporal on behind the profile's back fails here
instead of being skipped.
"""

from __future__ import annotations

import pytest

from filot_contract import aws_names
from filot_gate.checks import describe_service

pytestmark = pytest.mark.e2e

#: The backend's switch (prod.env.template): "true" means the Temporal worker is not used.
TEMPORAL_SWITCH = "TEMPORAL_DISABLED"


def backend_environment(ecs) -> dict[str, str]:
    arn = describe_service(ecs, "backend")["taskDefinition"]
    definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    container = next(c for c in definition["containerDefinitions"] if c["name"] == aws_names.BACKEND_CONTAINER)
    return {e["name"]: e["value"] for e in container.get("environment", [])}


def test_temporal_workflows_show_correct_transitions(ecs, settings, evidence):
    enabled_in_profile = bool(settings.profile.get("temporal.enabled", False))
    switch = backend_environment(ecs).get(TEMPORAL_SWITCH)
    evidence.add("Temporal", {"profile [temporal] enabled": enabled_in_profile, f"backend {TEMPORAL_SWITCH}": switch})
    deployed_on = switch is not None and switch.strip().lower() not in ("true", "1", "yes")
    assert not deployed_on or enabled_in_profile, (
        f"backend task definition sets {TEMPORAL_SWITCH}={switch!r} (Temporal in use) but profile"
        f" {settings.profile.path.name} has [temporal] enabled = false: the gate would skip the workflow check"
    )
    if not enabled_in_profile:
        pytest.skip(f"profile {settings.profile.path.name}: Temporal not used ([temporal] enabled = false; backend"
                    f" {TEMPORAL_SWITCH}={switch!r}); seed 000 step 7 applies only where Temporal is used")
    raise NotImplementedError(
        f"profile {settings.profile.path.name} enables Temporal, but this gate has no Temporal client to read workflow"
        " histories with: the run is inconclusive until a Temporal check is added")
