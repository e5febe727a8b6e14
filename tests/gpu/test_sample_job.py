"""GPU (seed 000 section 3 "Worker processes a sample job and publishes to filot:ocr:gpu:results"):
a real corpus KTP, put in FiLot's bucket with the ``CF_R2_*`` secret and enqueued directly on
``filot:ocr:gpu:queue`` as the contract's OcrJob (tagged with the run id), comes back on the results
channel from the device the profile requires, within ``deadlines.job_s``, read as printed.

The job has no document row: the backend drops its result as "unknown document" and FiLot's
database is untouched. The object and every key of the job are removed afterwards.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass

import pytest

from filot_contract import redis_keys
from filot_contract.messages import OcrJob, OcrResult
from filot_gate import corpus
from filot_gate.tracker import JobTracker, StuckJob
from filot_gate.worker_log import tail_reader

pytestmark = pytest.mark.gpu

CARD = corpus.first("KTP", "auto_approve")
CUDA_DEVICE = re.compile(r"cuda:\d+")


@dataclass
class SampleJob:
    job: OcrJob
    tracker: JobTracker
    deadline_s: float
    result: OcrResult | None = None
    seconds: float | None = None
    stuck: str | None = None


@pytest.fixture(scope="module")
def sample_job(redis_client, synthetic, target, run_id, settings):
    bucket, key = synthetic.put_object(CARD.path.read_bytes(), CARD.path.suffix, CARD.content_type)
    job = OcrJob(jobId=str(uuid.uuid4()), documentId=str(uuid.uuid4()), documentType=CARD.document_type,
                 bucket=bucket, objectKey=key, traceId=f"filot-gate-{run_id}", gateRunId=run_id)
    synthetic.add_job(job.jobId)
    tracker = JobTracker(redis_client, worker_log=tail_reader(target))
    tracker.follow(job.jobId, job.documentId)
    tracker.mark("uploaded", f"s3://{bucket}/{key} ({CARD.file}) put by the gate")
    sample = SampleJob(job, tracker, float(settings.profile.get("deadlines.job_s", 120)))
    started = time.monotonic()
    redis_client.lpush(redis_keys.OCR_QUEUE, job.to_json())
    tracker.check_queued()
    try:
        sample.result = tracker.wait_for_result(sample.deadline_s)
        sample.seconds = round(time.monotonic() - started, 3)
    except StuckJob as stuck:
        sample.stuck = str(stuck)
    yield sample
    tracker.close()


def add_evidence(sample: SampleJob, evidence) -> None:
    evidence.add("sample job", sample.job.model_dump())
    evidence.add("stage timeline", sample.tracker.timeline())
    if sample.result is not None:
        evidence.add(f"result after {sample.seconds}s", sample.result.model_dump())


def test_sample_job_comes_back_from_the_required_device(sample_job, settings, evidence):
    add_evidence(sample_job, evidence)
    if sample_job.result is None:
        pytest.fail(sample_job.stuck)
    result = sample_job.result
    assert result.status == "succeeded", (
        f"{redis_keys.OCR_RESULTS_CHANNEL}: sample job {result.jobId}: expected status succeeded, got {result.status}: {result.error}"
    )
    if settings.profile.get("gpu.require_cuda", True):
        assert CUDA_DEVICE.fullmatch(result.device), (
            f"{redis_keys.OCR_RESULTS_CHANNEL}: sample job {result.jobId} ran on device {result.device!r} (worker"
            f" {result.workerId}, engine {result.engine}); profile {settings.profile.path.name} requires CUDA (cuda:N)"
        )
    else:
        assert result.device == "cpu" or CUDA_DEVICE.fullmatch(result.device), (
            f"{redis_keys.OCR_RESULTS_CHANNEL}: sample job {result.jobId}: expected device cuda:N or cpu, got {result.device!r}"
        )


def test_sample_job_fields_equal_the_ground_truth(sample_job, evidence):
    add_evidence(sample_job, evidence)
    if sample_job.result is None:
        pytest.skip(f"not reached: the sample job did not come back: {sample_job.stuck}")
    wrong = CARD.mismatches(sample_job.result.fields)
    evidence.add("fields vs ground truth", wrong or "all equal")
    assert not wrong, (
        f"{redis_keys.OCR_RESULTS_CHANNEL}: sample job {sample_job.job.jobId} ({CARD.file}, engine"
        f" {sample_job.result.engine} on {sample_job.result.device}): fields differ from the ground truth: {wrong}"
    )
