"""E2E step 7 (seed 000 sections 4 and 7): Temporal workflows show correct transitions, where Temporal is used.

As the seed's smoke commands do: ``POST /verification/evaluate`` (admin) for the approved KTP starts a
``DocumentVerification`` run, and ``GET /verification/status/<documentId>`` shows it; the gate reads that
run's history from Temporal. Whether Temporal is used is the profile's ``[temporal] enabled``; the check
also reads the backend's live task definition, so that a deployment that disagrees with the profile fails
here instead of being skipped or waiting on no worker.
"""

from __future__ import annotations

import pytest

from filot_contract import aws_names, temporal
from filot_gate import corpus
from filot_gate.checks import describe_service
from filot_gate.polling import poll_until
from filot_gate.temporal_runs import RunReport, TemporalUnreachable, follow_run

pytestmark = pytest.mark.e2e

CARD = corpus.first("KTP", "auto_approve")
#: Seconds Temporal's visibility (what the status route lists) may lag behind the run's own state.
STATUS_DEADLINE_S = 10.0


def backend_environment(ecs) -> tuple[str, dict[str, str]]:
    """The backend's live revision (family:revision) and its container's environment."""
    arn = describe_service(ecs, "backend")["taskDefinition"]
    definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    container = next(c for c in definition["containerDefinitions"] if c["name"] == aws_names.BACKEND_CONTAINER)
    return arn.rsplit("/", 1)[-1], {e["name"]: e["value"] for e in container.get("environment", [])}


def require_temporal_where_the_profile_says(ecs, settings, evidence) -> None:
    """Fail when the deployment and the profile disagree; skip where neither uses Temporal."""
    enabled_in_profile = bool(settings.profile.get("temporal.enabled", False))
    revision, environment = backend_environment(ecs)
    switch = environment.get(temporal.SWITCH)
    evidence.add("Temporal", {"profile [temporal] enabled": enabled_in_profile, f"backend {temporal.SWITCH}": switch})
    deployed_on = switch is not None and switch.strip().lower() not in ("true", "1", "yes")
    profile = settings.profile.path.name
    assert deployed_on == enabled_in_profile, (
        f"backend task definition {revision} sets {temporal.SWITCH}={switch!r} but profile {profile} has [temporal]"
        f" enabled = {str(enabled_in_profile).lower()}: " + (
            "the gate would skip the workflow check" if deployed_on else
            "the deployment dropped Temporal (deploy the backend --with temporal, seed 002 section 4), so no workflow"
            " is started and none of the backend's tasks polls the task queue")
    )
    if not enabled_in_profile:
        pytest.skip(f"profile {profile}: Temporal not used ([temporal] enabled = false; backend"
                    f" {temporal.SWITCH}={switch!r}); seed 000 step 7 applies only where Temporal is used")


def start_verification(api, admin_token: str, document_id: str, evidence) -> dict:
    """``POST /verification/evaluate`` as an admin: the ids of the run it started."""
    answer = api.post("/verification/evaluate", json={"documentId": document_id},
                      headers={"Authorization": f"Bearer {admin_token}"})
    started = answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {}
    evidence.add("POST /verification/evaluate", {"status": answer.status_code, "body": started})
    assert answer.status_code == 202 and started.get("workflowId"), (
        f"POST /verification/evaluate for document {document_id}: expected 202 with the workflowId of the"
        f" {temporal.WORKFLOW} run it started, got {answer.status_code} {answer.text[:300]}"
    )
    return started


def workflow_shown_by_the_status_route(api, document_id: str, run: RunReport) -> dict:
    """The ``workflow`` of ``GET /verification/status``, once it is the run (Temporal's visibility may lag)."""
    return poll_until(lambda: api.get(f"/verification/status/{document_id}").json().get("workflow") or {},
                      lambda shown: (shown.get("workflowId"), shown.get("status")) == (run.workflow_id, run.status),
                      deadline_s=STATUS_DEADLINE_S, awaited="the status route to show the completed run", interval_s=0.5)


def test_temporal_workflows_show_correct_transitions(ecs, settings, evidence, api, admin_token, journey, target, db):
    require_temporal_where_the_profile_says(ecs, settings, evidence)
    approved = journey(CARD)
    approved.require("an approved KTP to evaluate", approved.status is not None)
    started = start_verification(api, admin_token, approved.document_id, evidence)

    deadline_s = float(settings.profile.get("deadlines.workflow_s", 60))
    try:
        run = follow_run(target.temporal, started["workflowId"], started.get("runId", ""), deadline_s)
    except TemporalUnreachable as exc:
        pytest.fail(f"reading workflow {started['workflowId']}: {exc}")
    evidence.add("workflow run", run.explain())
    assert run.status == "COMPLETED", f"expected COMPLETED within {deadline_s:g}s, got {run.explain()}"
    expected = temporal.expected_activities(run.result)
    assert run.activities == expected and all(s.outcome == "completed" for s in run.steps), (
        f"workflow {run.workflow_id}: expected activities {' -> '.join(expected)}, each completed; got {run.explain()}"
    )

    shown = workflow_shown_by_the_status_route(api, approved.document_id, run)
    evidence.add("GET /verification/status: workflow", shown)
    assert (shown.get("workflowId"), shown.get("status")) == (run.workflow_id, run.status), (
        f"GET /verification/status/{approved.document_id}: expected its newest workflow {run.workflow_id} {run.status}"
        f" (seed 000 section 4 \"check workflow status\"), got {shown or 'no workflow'}"
    )
    stored = db.execute("SELECT verification_status FROM documents WHERE id = %s", (approved.document_id,)).fetchone()
    assert stored and run.result.get("status") == stored[0] and run.result.get("documentId") == approved.document_id, (
        f"workflow {run.workflow_id}: expected its result to be document {approved.document_id} with the status"
        f" documents.verification_status holds ({stored[0] if stored else 'no row'}), got {run.result}"
    )
