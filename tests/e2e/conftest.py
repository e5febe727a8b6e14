"""Fixtures of the e2e gate: synthetic users tagged with the run id, the upload factory, and the
journey of one corpus card through FiLot (upload -> queue -> worker -> results -> scoring -> DB).

Everything uploaded is removed at the end of the session (``synthetic``), also when a test failed;
the number of documents a run creates is capped by the profile's ``e2e.max_documents``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pytest

from filot_contract.documents import DECIDED_STATUSES, VerificationStatus
from filot_contract.messages import OcrResult
from filot_gate.api_client import CheckedApi, NoHttpAnswer
from filot_gate.corpus import Card
from filot_gate.synthetic import SyntheticData
from filot_gate.tokens import sign_token
from filot_gate.tracker import JobTracker, Stage, StuckJob
from filot_gate.worker_log import tail_reader

log = logging.getLogger("filot_gate.e2e")

#: Upload.status_code of a request that got no HTTP answer (its text says what happened instead).
NO_ANSWER = 0
#: Where a document may be once the automatic pipeline is done (BULI2 may already have settled it).
DONE_STATUSES = DECIDED_STATUSES | {VerificationStatus.APPROVED, VerificationStatus.REJECTED}


@pytest.fixture(scope="session")
def api(api) -> CheckedApi:
    """The session's API client, with a broken answer (reset, truncated, timed out) failing the check."""
    return CheckedApi(api)


@pytest.fixture(scope="session")
def jwt_secret(target) -> str:
    return target.secret_key("jwt-secret", "JWT_SECRET")


@pytest.fixture(scope="session")
def callback_url(target) -> str:
    """Where BULI2 sends its signed review decisions (FiLot's ``/internal/reviews``)."""
    return target.secret_key("buli2", "BULI2_CALLBACK_URL")


@pytest.fixture(scope="session")
def user_token(jwt_secret, synthetic: SyntheticData) -> str:
    """A short-lived user JWT signed with FiLot's JWT_SECRET, for this run's synthetic user."""
    return sign_token(jwt_secret, synthetic.subject("user"))


@pytest.fixture(scope="session")
def admin_token(jwt_secret, synthetic: SyntheticData) -> str:
    """A short-lived admin JWT (``POST /verification/evaluate``), for this run's synthetic admin."""
    return sign_token(jwt_secret, synthetic.subject("admin"), role="admin")


@pytest.fixture(scope="session")
def job_deadline_s(settings) -> float:
    return float(settings.profile.get("deadlines.job_s", 120))


@dataclass
class Upload:
    card: Card
    status_code: int
    body: dict
    text: str
    tracker: JobTracker
    sent_at: float  # epoch seconds, just before the request

    @property
    def accepted(self) -> bool:
        return self.status_code == 202 and "documentId" in self.body

    @property
    def answer(self) -> str:
        return "no HTTP answer" if self.status_code == NO_ANSWER else str(self.status_code)

    def describe(self) -> str:
        return f"POST /documents {self.card.file} ({self.card.document_type}) -> {self.answer}: {self.text[:300]}"

    def refusal(self) -> str:
        """The assertion message of an upload that should have been accepted."""
        return (f"POST /documents {self.card.file} ({self.card.document_type}): expected 202, got {self.answer}"
                f" (a document id expected in the body): {self.text[:300]}")


@pytest.fixture(scope="session")
def ktp_upload(api, redis_client, user_token, run_id, synthetic: SyntheticData, target) -> Callable[[Card], Upload]:
    """Upload a corpus card as this run's synthetic user, with a JobTracker subscribed before the upload.

    Each upload first reserves one document of the run's budget; what it creates is registered with
    ``synthetic`` and removed at the end of the session.
    """

    def upload(card: Card) -> Upload:
        synthetic.reserve_document()
        tracker = JobTracker(redis_client, worker_log=tail_reader(target))
        sent_at = time.time()
        try:
            response = api.post(
                "/documents",
                headers={"Authorization": f"Bearer {user_token}", "X-Gate-Run": run_id},
                files={"file": (card.file, card.path.read_bytes(), card.content_type)},
                data={"documentType": card.document_type},
            )
        except NoHttpAnswer as broken:
            return Upload(card, NO_ANSWER, {}, str(broken), tracker, sent_at)
        is_json = response.headers.get("content-type", "").startswith("application/json")
        body = response.json() if is_json else {}
        result = Upload(card, response.status_code, body, response.text, tracker, sent_at)
        if result.accepted:
            synthetic.add_document(body["documentId"], body["jobId"])
            tracker.follow(body["jobId"], body["documentId"])
            tracker.mark("uploaded", f"202 document {body['documentId']}, job {body['jobId']}")
        return result

    return upload


@dataclass
class Journey:
    """One card's way through FiLot, followed once; each e2e test asserts the part it is about."""

    upload: Upload
    queued: Stage | None = None
    result: OcrResult | None = None
    scored: dict[str, Any] | None = None
    status: str | None = None
    stuck: str | None = None  # why the journey stopped early (the StuckJob message)
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def card(self) -> Card:
        return self.upload.card

    @property
    def document_id(self) -> str:
        return self.upload.body["documentId"]

    @property
    def job_id(self) -> str:
        return self.upload.body["jobId"]

    def require(self, what: str, reached: bool) -> None:
        """Skip a later step when the journey never got to it; the failing earlier step says why."""
        if not self.upload.accepted:
            pytest.skip(f"not reached: the upload of {self.card.file} was refused ({self.upload.answer}); see the upload step")
        if not reached:
            pytest.skip(f"not reached: {self.card.file} stopped before {what}: {self.stuck or 'an earlier check of it failed'}")

    def reached(self, stage_seen: bool) -> None:
        """Fail with where the journey got stuck unless it got as far as this test's stage."""
        if not stage_seen:
            pytest.fail(self.stuck or f"{self.card.file}: the journey stopped early without a reason (a gate bug)")

    def history_now(self, db) -> list[dict[str, Any]]:
        """The document's status history as the database holds it now."""
        return status_history(db, self.document_id)

    def add_evidence(self, evidence) -> None:
        evidence.add(f"{self.card.file}: upload", self.upload.describe())
        evidence.add(f"{self.card.file}: stage timeline", self.upload.tracker.timeline())
        if self.history:
            evidence.add(f"{self.card.file}: document_status_history", self.history)
        if self.stuck:
            evidence.add(f"{self.card.file}: where it stopped", self.stuck)


def follow(upload: Upload, db, deadline_s: float) -> Journey:
    """Follow an accepted upload to a decided status within ``deadline_s`` (one budget for the whole way)."""
    journey = Journey(upload)
    if not upload.accepted:
        return journey
    tracker = upload.tracker
    deadline = time.monotonic() + deadline_s
    journey.queued = tracker.check_queued()
    try:
        journey.result = tracker.wait_for_result(deadline - time.monotonic())
        journey.scored = tracker.wait_for_scored(db, deadline - time.monotonic())
        journey.status = tracker.wait_for_status(db, DONE_STATUSES, deadline - time.monotonic())
    except StuckJob as stuck:
        journey.stuck = str(stuck)
    journey.history = status_history(db, journey.document_id)
    return journey


def status_history(db, document_id: str) -> list[dict[str, Any]]:
    rows = db.execute("SELECT status, changed_at, detail FROM document_status_history WHERE document_id = %s"
                      " ORDER BY id", (document_id,)).fetchall()
    return [{"status": status, "changed_at": changed_at, "detail": detail} for status, changed_at, detail in rows]


@pytest.fixture(scope="session")
def journey(ktp_upload, db, job_deadline_s) -> Iterator[Callable[[Card], Journey]]:
    """``journey(card)``: the card uploaded and followed once per session (later calls reuse it)."""
    journeys: dict[str, Journey] = {}

    def run(card: Card) -> Journey:
        if card.file not in journeys:
            journeys[card.file] = follow(ktp_upload(card), db, job_deadline_s)
            log.info("journey of %s: %s", card.file, journeys[card.file].upload.tracker.timeline())
        return journeys[card.file]

    yield run
    for item in journeys.values():
        item.upload.tracker.close()
