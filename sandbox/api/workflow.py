"""The ``DocumentVerification`` workflow of ``filot_contract.temporal``: score the stored OCR result again,
then hand a manual review it opened to BULI2.

Temporal replays workflow code, so it does no I/O of its own: it calls its activities by name
(``sandbox.api.temporal_worker`` runs them) and returns what the evaluation returned.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from filot_contract import temporal

#: A missing document or one without an OCR result will not change on a retry.
NOT_RETRYABLE = ["UnknownDocument", "NothingToScore"]
ACTIVITY_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=temporal.ACTIVITY_TIMEOUT_S),
    "retry_policy": RetryPolicy(maximum_attempts=5, non_retryable_error_types=NOT_RETRYABLE),
}


@workflow.defn(name=temporal.WORKFLOW)
class DocumentVerification:
    @workflow.run
    async def run(self, request: dict[str, str]) -> dict[str, Any]:
        result: dict[str, Any] = await workflow.execute_activity(temporal.EVALUATE_ACTIVITY, request, **ACTIVITY_OPTIONS)
        if result.get("reviewRequestId"):
            await workflow.execute_activity(temporal.ESCALATE_ACTIVITY, result["reviewRequestId"], **ACTIVITY_OPTIONS)
        return result
