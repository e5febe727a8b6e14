"""E2E: a KTP through FiLot (seed 000 section 7, steps 1-5)."""

from __future__ import annotations

import pytest

from filot_gate import corpus
from filot_gate.tracker import wait_for_status

pytestmark = pytest.mark.e2e


def test_health_reports_ok_with_redis_and_db_connected(api, evidence):
    response = api.get("/health")
    evidence.add("GET /health", response.text)
    assert response.status_code == 200, f"GET {api.base_url}/health: expected 200, got {response.status_code}: {response.text[:300]}"
    body = response.json()
    assert body.get("status") == "ok", f"/health: expected status ok, got {body.get('status')!r}"
    assert body.get("redisConnected") is True, f"/health: expected redisConnected true, got {body.get('redisConnected')!r}"
    assert body.get("dbConnected") is True, f"/health: expected dbConnected true, got {body.get('dbConnected')!r}"


def test_uploaded_ktp_reaches_a_decided_status_in_the_database(ktp_upload, db, settings, evidence):
    card = corpus.first("KTP", "auto_approve")
    upload = ktp_upload(card)
    assert upload.status_code == 202, f"POST /documents {card.file}: expected 202, got {upload.status_code}: {upload.body}"
    deadline = settings.profile.get("deadlines.job_s", 120)
    result = upload.tracker.wait_for_result(upload.job_id, deadline)
    evidence.add("OCR result", result.model_dump())
    assert result.status == "succeeded", f"job {upload.job_id}: expected OCR status succeeded, got {result.status}: {result.error}"
    status = wait_for_status(db, upload.document_id, deadline)
    assert status == "auto_approved", (
        f"document {upload.document_id} ({card.file}, expected path {card.expected_path}):"
        f" expected verification_status auto_approved, got {status}"
    )
