"""Fixtures of the e2e gate: a synthetic user tagged with the run id, and the upload factory."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator

import jwt
import pytest

from filot_gate.corpus import Card
from filot_gate.tracker import JobTracker


@pytest.fixture(scope="session")
def user_token(target, run_id) -> str:
    """A short-lived user JWT signed with FiLot's JWT_SECRET, for a synthetic user of this run."""
    claims = {"sub": f"filot-gate-{run_id}", "role": "user", "exp": int(time.time()) + 3600}
    return jwt.encode(claims, target.secret_key("jwt-secret", "JWT_SECRET"), algorithm="HS256")


@dataclass
class Upload:
    card: Card
    status_code: int
    body: dict
    tracker: JobTracker

    @property
    def document_id(self) -> str:
        return self.body["documentId"]

    @property
    def job_id(self) -> str:
        return self.body["jobId"]


@pytest.fixture
def ktp_upload(api, redis_client, user_token, evidence, run_id, db) -> Iterator[Callable[[Card], Upload]]:
    """Upload a corpus card as this run's synthetic user; the tracker is subscribed before the upload.

    Rows, objects and keys the upload created are removed afterwards, also when the test fails.
    """
    uploads: list[Upload] = []

    def upload(card: Card) -> Upload:
        tracker = JobTracker(redis_client, progress=lambda line: evidence.add("progress", line))
        with card.path.open("rb") as image:
            response = api.post(
                "/documents",
                headers={"Authorization": f"Bearer {user_token}", "X-Gate-Run": run_id},
                files={"file": (card.file, image, "image/png" if card.file.endswith(".png") else "image/jpeg")},
                data={"documentType": card.document_type},
            )
        tracker.mark("uploaded")
        evidence.add(f"POST /documents {card.file} -> {response.status_code}", response.text)
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        result = Upload(card, response.status_code, body, tracker)
        uploads.append(result)
        return result

    yield upload
    for item in uploads:
        evidence.add(f"stages of {item.card.file}", item.tracker.stages)
        item.tracker.close()
