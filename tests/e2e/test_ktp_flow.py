"""E2E steps 2-5 (seed 000 section 7): a clean KTP through FiLot to an automatic approval.

One upload, followed once by the ``journey`` fixture; each test checks the step an operator checks
by hand (curl, redis-cli LRANGE, the worker's log, psql), in that order.
"""

from __future__ import annotations

import uuid

import pytest

from filot_contract import aws_names, redis_keys
from filot_contract.documents import AUTO_APPROVE_THRESHOLD, VerificationStatus
from filot_contract.log_lines import JOB_FINISHED
from filot_gate import corpus
from filot_gate.document_checks import assert_history_in_order
from filot_gate.polling import poll_until
from filot_gate.task_logs import DEFAULT_LOG_DELIVERY_S
from filot_gate.worker_log import job_lines

pytestmark = pytest.mark.e2e

CARD = corpus.first("KTP", "auto_approve")


@pytest.fixture(scope="module")
def approved(journey):
    return journey(CARD)


def test_upload_returns_a_document_id(approved, evidence):
    approved.add_evidence(evidence)
    upload = approved.upload
    assert upload.accepted, upload.refusal()
    try:
        uuid.UUID(str(upload.body["documentId"]))
    except ValueError:
        pytest.fail(f"{upload.describe()}: expected a UUID documentId, got {upload.body.get('documentId')!r}")


def test_job_is_seen_on_the_gpu_queue(approved, evidence, record_property):
    approved.require("the queue", True)
    approved.add_evidence(evidence)
    assert approved.queued is not None, (
        f"{redis_keys.OCR_QUEUE}: expected job {approved.job_id} of document {approved.document_id} on the queue"
        f" (LRANGE) or its push (keyspace event) during the upload; saw neither:"
        f" {approved.upload.tracker.snapshot(brief=True)}"
    )
    evidence.add("how the job was seen on the queue", approved.queued.how)
    record_property("seen_by", approved.queued.how)  # the smoke script prints it


def test_worker_consumes_the_job_and_publishes_its_result(approved, evidence):
    approved.require("the worker", True)
    approved.add_evidence(evidence)
    approved.reached(approved.result is not None)
    result = approved.result
    evidence.add("OCR result", result.model_dump())
    assert result.status == "succeeded", (
        f"{redis_keys.OCR_RESULTS_CHANNEL}: job {approved.job_id}: expected status succeeded, got {result.status}: {result.error}"
    )


def test_worker_logs_the_ocr_result_of_the_job(approved, target, settings, evidence):
    approved.require("the worker's log", approved.result is not None)
    job, group = approved.job_id, aws_names.GPU_LOG_GROUP
    deadline = settings.profile.get("deadlines.logs_s", DEFAULT_LOG_DELIVERY_S)
    logs = target.client("logs")
    lines = poll_until(lambda: job_lines(logs, job, approved.upload.sent_at), lambda found: bool(finished(found)),
                       deadline_s=deadline, awaited=f"the worker's {JOB_FINISHED!r} line of job {job} in {group}")
    evidence.add(f"{group}: the lines naming job {job}", lines)
    assert finished(lines), (
        f"CloudWatch log group {group}: expected the worker's {JOB_FINISHED!r} line of job {job}, with its OCR result"
        f" (seed 000 section 7 step 4, 'logs show OCR result'), within {deadline:.0f}s; got"
        f" {[line.get('msg') for line in lines] or 'no line naming the job'}")
    logged = finished(lines)[-1].get("status")
    assert logged == approved.result.status, (
        f"CloudWatch log group {group}: job {job} logged status {logged!r}, while its result on"
        f" {redis_keys.OCR_RESULTS_CHANNEL} says {approved.result.status!r}")


def finished(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line.get("msg") == JOB_FINISHED]


def test_backend_scores_the_result_and_records_the_status(approved, db, evidence):
    approved.require("scoring", approved.result is not None)
    approved.add_evidence(evidence)
    approved.reached(approved.scored is not None and approved.status is not None)
    evidence.add("verification_results row", approved.scored)
    expected = VerificationStatus.AUTO_APPROVED.value
    assert approved.status == expected, (
        f"documents.verification_status of {approved.document_id} ({CARD.file}, expected path {CARD.expected_path}):"
        f" expected {expected}, got {approved.status} (score {approved.scored['score']}, reasons {approved.scored['reasons']})"
    )
    assert approved.scored["decision"] == expected, (
        f"verification_results of {approved.document_id}: expected decision {expected}, got {approved.scored['decision']}"
    )
    assert float(approved.scored["score"]) >= AUTO_APPROVE_THRESHOLD, (
        f"verification_results of {approved.document_id}: an auto-approval needs a score >= {AUTO_APPROVE_THRESHOLD},"
        f" got {approved.scored['score']}"
    )
    assert_history_in_order(approved.document_id, approved.history, approved.status)


def test_parsed_fields_match_the_ground_truth(approved, evidence):
    approved.require("the parsed fields", approved.scored is not None)
    approved.add_evidence(evidence)
    published = CARD.mismatches(approved.result.fields)
    stored = CARD.mismatches(approved.scored["fields"])
    evidence.add("fields: published vs ground truth", published or "all equal")
    assert not published, f"{redis_keys.OCR_RESULTS_CHANNEL}: job {approved.job_id} ({CARD.file}): fields differ from the ground truth: {published}"
    assert not stored, f"verification_results.fields of {approved.document_id} ({CARD.file}): differ from the ground truth: {stored}"
