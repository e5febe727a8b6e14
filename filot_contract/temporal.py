"""FiLot's Temporal workflow (seed 000 section 4 "Temporal worker (if enabled)", step 7; seed 002 section 4).

``POST /verification/evaluate`` (admin) starts one ``DocumentVerification`` run on the task queue below,
and answers with its workflow and run ids. The backend's Temporal worker runs it: activity
``evaluate_document`` scores the stored OCR result again, and when that opens a manual review, activity
``escalate_review`` hands it to BULI2. ``GET /verification/status/{documentId}`` shows the document's newest
run (its ids and status). The gate reads the run's history from Temporal: its activities, in order, are the
transitions it checks.
"""

from __future__ import annotations

#: The backend's switch (prod.env.template): "true" (the manifest's default) means Temporal is not used.
SWITCH = "TEMPORAL_DISABLED"
#: The Secrets Manager secret (under the FiLot prefix) that holds the three connection values.
SECRET_NAME = "temporal"
ENDPOINT_KEY, NAMESPACE_KEY, API_KEY_KEY = "TEMPORAL_ENDPOINT", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY"

TASK_QUEUE = "filot-verification"
WORKFLOW = "DocumentVerification"
EVALUATE_ACTIVITY = "evaluate_document"
ESCALATE_ACTIVITY = "escalate_review"
#: Seconds one activity attempt may take before Temporal retries it.
ACTIVITY_TIMEOUT_S = 30


def workflow_id_prefix(document_id: str) -> str:
    """What every workflow id of one document starts with (``WorkflowId STARTS_WITH`` finds its runs)."""
    return f"document-verification-{document_id}-"


def workflow_id(document_id: str, request_id: str) -> str:
    """One run per evaluation request: ``document-verification-<document>-<request>``."""
    return workflow_id_prefix(document_id) + request_id


def expected_activities(result: dict) -> list[str]:
    """The activities a completed run must have executed, in order, for the result it returned."""
    return [EVALUATE_ACTIVITY] + ([ESCALATE_ACTIVITY] if result.get("reviewRequestId") else [])
