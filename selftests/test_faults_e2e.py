"""Every e2e check can fail: for each, break the backend, BULI2, Redis, the database or EPR in a private
sandbox, run the e2e gate narrowed to the fault's checks and see exactly them fail with their messages
and the verdict no-go; then heal (``selftests/runtime_faults.py``). And: a run creates no more documents
than the profile allows.
"""

from __future__ import annotations

import pytest

from selftests.runtime_faults import (  # noqa: F401 - box is a fixture
    Check, Fault, assert_fails_exactly_its_checks, box, deployed, named, rotated_signature_secret, run_gate,
    scores_refused_by_the_database, staging_configuration)

pytestmark = pytest.mark.sandbox

FAULTS = [
    # e2e: the seed 000 smoke steps
    named("api-unhealthy", Check("e2e", "test_health.py::test_health_reports_ok_with_redis_and_db_connected", "GET /health")),
    Fault("backend-upload-limit-2kb", lambda box: deployed(box, "backend", "MAX_UPLOAD_BYTES=2048"), (
        Check("e2e", "test_ktp_flow.py::test_upload_returns_a_document_id", "expected 202, got 413"),
        Check("e2e", "test_input_validation.py::test_bad_upload_is_refused_with_a_clear_4xx[pdf-renamed]", "expected 415, got 413"),
        Check("e2e", "test_input_validation.py::test_bad_upload_is_refused_with_a_clear_4xx[truncated]", "expected 422, got 413"),
        Check("e2e", "test_input_validation.py::test_bad_upload_is_refused_with_a_clear_4xx[blank]", "expected 422, got 413"),
    )),
    Fault("backend-metrics-disabled", lambda box: deployed(box, "backend", "METRICS_ENABLED=false"), (
        Check("e2e", "test_metrics.py::test_metrics_endpoint_serves_filot_s_series_from_live_sources", "expected 200, got 404"),)),
    named("worker-release-without-job-lines",
          Check("e2e", "test_ktp_flow.py::test_worker_logs_the_ocr_result_of_the_job", "got no line naming the job")),
    named("redis-keyspace-events-off", Check("e2e", "test_ktp_flow.py::test_job_is_seen_on_the_gpu_queue", "saw neither")),
    Fault("scores-refused-by-the-database", scores_refused_by_the_database, (
        Check("e2e", "test_ktp_flow.py::test_backend_scores_the_result_and_records_the_status", "the backend failed the document"),
        Check("e2e", "test_npwp.py::test_npwp_upload_is_scored_and_approved", "the backend failed the document"),
    )),
    # one backend revision with two configuration drifts (one deploy instead of two: the module's time)
    Fault("backend-thresholds-50-10-and-temporal-off", lambda box: deployed(
        box, "backend", "AI_SCORE_THRESHOLD_AUTO_APPROVE=50", "AI_SCORE_THRESHOLD_AUTO_REJECT=10", "TEMPORAL_DISABLED=true"), (
        Check("e2e", "test_decision_paths.py::test_invalid_ktp_is_auto_rejected", "expected auto_rejected, got"),
        Check("e2e", "test_buli2_review.py::test_degraded_ktp_is_routed_to_manual_review", "expected decision manual_review, got auto_approved"),
        Check("e2e", "test_temporal.py::test_temporal_workflows_show_correct_transitions",
              "sets TEMPORAL_DISABLED='true' but profile"),
    )),
    named("buli2-down",
          Check("e2e", "test_buli2_review.py::test_manual_review_is_escalated_to_buli2_and_accepted", "expected BULI2 to accept the escalation")),
    named("buli2-bad-signature",
          Check("e2e", "test_buli2_review.py::test_buli2s_own_signed_callback_settles_the_review", "expected BULI2's own signed callback")),
    Fault("buli2-secret-rotated-without-redeploy", rotated_signature_secret, (
        Check("e2e", "test_buli2_review.py::test_signed_callback_settles_the_document", "expected 200, got 401"),)),
    # e2e: seed 002 section 6
    named("backend-release-without-input-validation",
          Check("e2e", "test_input_validation.py::test_malformed_request_is_refused_with_a_clear_4xx[status-id-not-a-uuid]",
                "expected 400 or 404 or 422 (refused as malformed), got 503"),
          Check("e2e", "test_input_validation.py::test_malformed_request_is_refused_with_a_clear_4xx[evaluate-id-not-a-uuid]",
                "expected 400 or 422 (refused as malformed), got 503")),
    # e2e: seed 002 section 8
    named("backend-release-with-optional-callback-signature",
          Check("e2e", "test_callback_signatures.py::test_callback_without_a_signature_is_refused_with_401",
                "callback with a timestamp and no X-BULI2-Signature header: expected 401, got 404")),
    named("backend-release-crashing-on-malformed-callbacks", *(
          Check("e2e", f"test_input_validation.py::test_signed_malformed_callback_is_refused_with_a_clear_4xx[{case}]",
                "expected 400 or 422 (refused as malformed), got 500")
          for case in ("callback-not-json", "callback-without-document-id", "callback-unknown-decision"))),
    named("backend-release-without-evaluate-rate-limit",
          Check("e2e", "test_rate_limit.py::test_rate_limit_answers_429_with_retry_after[evaluate]",
                "POST /verification/evaluate: expected 429 within")),
    named("backend-release-storing-scores-as-fractions",
          Check("e2e", "test_ktp_flow.py::test_backend_scores_the_result_and_records_the_status",
                "an auto-approval needs a score >= 85, got "),
          Check("e2e", "test_buli2_review.py::test_degraded_ktp_is_routed_to_manual_review",
                "a manual review needs a score between 35 and 85, got 0.")),
    named("backend-release-capped-at-4-connections",
          Check("e2e", "test_load.py::test_api_serves_the_expected_number_of_users_at_once",
                "under the expected traffic (20 users at once")),
    Fault("backend-staging-configuration", staging_configuration, (
        Check("e2e", "test_auth.py::test_token_signed_with_a_known_default_secret_is_refused", "not refused"),
        Check("e2e", "test_callback_signatures.py::test_callback_with_a_forged_signature_is_refused_with_401", "expected 401, got 404"),
        Check("e2e", "test_callback_signatures.py::test_stale_callback_is_refused_with_400", "expected 400 (stale), got 404"),
        Check("e2e", "test_buli2_review.py::test_replayed_callback_is_refused_with_409", "expected 409 (replay refused), got 200"),
    )),
    # e2e: seed 004, the Entity & Permissions Core
    named("epr-api-unhealthy", Check("e2e", "test_epr.py::test_epr_healthz_answers_ok_through_the_load_balancer",
                                     "expected 200, got 503")),
    named("audit-worker-frozen", Check("e2e", "test_epr.py::test_audit_event_published_to_the_audit_topic_is_consumed_by_the_worker",
                                       "within 10s; it did not. Queue epr-audit-events-queue:")),
    Fault("backend-limits-lifted", lambda box: deployed(box, "backend", "MAX_UPLOAD_BYTES=52428800", "RATE_LIMIT_PER_MINUTE=100000",
                                                        "CORS_ALLOWED_ORIGINS=*"), (
        Check("e2e", "test_input_validation.py::test_bad_upload_is_refused_with_a_clear_4xx[too-large]", "expected 413, got"),
        Check("e2e", "test_rate_limit.py::test_rate_limit_answers_429_with_retry_after[uploads]", "expected 429 within"),
        Check("e2e", "test_rate_limit.py::test_rate_limit_answers_429_with_retry_after[evaluate]", "expected 429 within"),
        Check("e2e", "test_cors.py::test_cors_does_not_allow_an_unlisted_origin", "expected no Access-Control-Allow-Origin"),
        Check("e2e", "test_cors.py::test_cors_preflight_echoes_each_allowed_origin", "echoing it"),
    )),
]


def test_a_run_creates_no_more_documents_than_the_profile_allows(box, tmp_path):
    result, summary = run_gate(box, tmp_path, "one-document", "-m", "e2e", "-k", "test_ktp_flow or test_npwp", "tests/e2e")
    gate = summary["gates"]["e2e"]
    errors = [f for f in gate["failures"] if f["outcome"] == "error"]
    assert summary["verdict"] == "inconclusive" and errors, result.stdout[-4000:]
    assert all("has already created 1 documents" in f["message"] for f in errors), errors
    assert gate["counts"]["passed"] >= 1, f"the first document's checks must still run: {gate['counts']}"


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_fault_fails_exactly_its_check(box, tmp_path, fault):
    assert_fails_exactly_its_checks(box, tmp_path, fault)
