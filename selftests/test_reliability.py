"""Reliability of the sandbox's data plane (issue 4), black-box through its public interfaces:
concurrent uploads lose and duplicate nothing; queued jobs survive a Redis restart (AOF); an API
killed while results are published still settles every document (reconcile from the result store)."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import jwt
import psycopg
import pytest
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from filot_contract import redis_keys
from filot_contract.documents import DECIDED_STATUSES
from filot_gate import corpus
from selftests.sandbox_fixture import PrivateSandbox, start_private_sandbox, stop_private_sandbox

pytestmark = pytest.mark.sandbox
DECIDED = sorted(s.value for s in DECIDED_STATUSES)


@pytest.fixture(scope="module")
def sandbox():
    box = start_private_sandbox()
    yield box
    stop_private_sandbox(box)


def token(sandbox, user: str) -> str:
    claims = {"sub": user, "role": "user", "exp": int(time.time()) + 600}
    return jwt.encode(claims, sandbox.credentials["JWT_SECRET"], algorithm="HS256")


def api_url(sandbox) -> str:
    return f"http://127.0.0.1:{sandbox.env['FILOT_SANDBOX_ALB_PORT']}"


def db(sandbox) -> psycopg.Connection:
    password = sandbox.credentials["POSTGRES_PASSWORD"]
    return psycopg.connect(f"postgresql://filot:{password}@127.0.0.1:{sandbox.env['FILOT_SANDBOX_POSTGRES_PORT']}/filot",
                           autocommit=True)


def upload(client: httpx.Client, bearer: str, card: corpus.Card) -> httpx.Response:
    with card.path.open("rb") as image:
        return client.post("/documents", headers={"Authorization": f"Bearer {bearer}"},
                           files={"file": (card.file, image, "image/png" if card.file.endswith(".png") else "image/jpeg")}, data={"documentType": card.document_type})


def accepted(response: httpx.Response) -> str:
    assert response.status_code == 202, f"POST /documents: expected 202, got {response.status_code}: {response.text[:300]}"
    return response.json()["documentId"]


def api_ready(sandbox: PrivateSandbox, deadline_s: float = 120) -> None:
    """The ALB answers ``/health`` with 200: after a dependency restarts, its targets need a few checks."""
    def health() -> int | None:
        try:
            return httpx.get(f"{api_url(sandbox)}/health", timeout=5).status_code
        except httpx.HTTPError:
            return None

    status = Retrying(stop=stop_after_delay(deadline_s), wait=wait_fixed(0.5), retry=retry_if_result(lambda code: code != 200),
                      retry_error_callback=lambda state: state.outcome.result())(health)
    assert status == 200, f"GET /health through the ALB: expected 200 within {deadline_s}s, got {status}"


def wait_all_decided(sandbox, document_ids: list[str], deadline_s: float) -> dict[str, str]:
    """Status of each document once every one is decided (or the last seen, at the deadline)."""
    with db(sandbox) as conn:
        def read() -> dict[str, str]:
            rows = conn.execute("SELECT id::text, verification_status FROM documents WHERE id = ANY(%s::uuid[])",
                                (document_ids,)).fetchall()
            return dict(rows)

        retrying = Retrying(stop=stop_after_delay(deadline_s), wait=wait_fixed(1),
                            retry=retry_if_result(lambda s: len(s) < len(document_ids) or set(s.values()) - set(DECIDED)),
                            retry_error_callback=lambda state: state.outcome.result())
        return retrying(read)


def scale_worker(sandbox, count: int) -> None:
    sandbox.aws("ecs").update_service(cluster="filot-ocr-gpu-cluster", service="filot-ocr-gpu-service", desiredCount=count)


def test_concurrent_uploads_lose_nothing_and_duplicate_nothing(sandbox):
    noncard = next(c for c in corpus.cards() if c.file.startswith("noncard"))  # a receipt: read, then rejected
    bearers = [token(sandbox, f"load-user-{n}") for n in range(10)]  # under the per-user rate limit
    with httpx.Client(base_url=api_url(sandbox), timeout=60) as client, ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda n: upload(client, bearers[n % 10], noncard), range(200)))
    codes = [r.status_code for r in responses]
    assert codes.count(202) == 200, f"expected 200 uploads accepted, got {sorted(set(codes))}: {responses[0].text[:200]}"
    ids = [r.json()["documentId"] for r in responses]
    assert len(set(ids)) == 200
    statuses = wait_all_decided(sandbox, ids, deadline_s=600)
    undecided = {i: s for i, s in statuses.items() if s not in DECIDED}
    assert len(statuses) == 200 and not undecided, f"{len(undecided)} documents not decided: {list(undecided.items())[:5]}"
    with db(sandbox) as conn:
        duplicated = conn.execute("SELECT document_id, count(*) FROM verification_results WHERE document_id = ANY(%s::uuid[])"
                                  " GROUP BY document_id HAVING count(*) > 1", (ids,)).fetchall()
    assert duplicated == [], f"documents with more than one result: {duplicated[:5]}"
    r = sandbox.redis()
    assert (r.llen(redis_keys.OCR_QUEUE), r.llen(redis_keys.OCR_PROCESSING)) == (0, 0)


def test_queued_jobs_survive_a_redis_restart(sandbox):
    card = corpus.first("KTP", "auto_approve")
    scale_worker(sandbox, 0)
    r = sandbox.redis()
    Retrying(stop=stop_after_delay(60), wait=wait_fixed(0.5), retry=retry_if_result(bool))(
        lambda: list(r.scan_iter(redis_keys.WORKER_HEARTBEAT_PATTERN)))
    with httpx.Client(base_url=api_url(sandbox), timeout=30) as client:
        ids = [accepted(upload(client, token(sandbox, "restart-user"), card)) for _ in range(3)]
    assert r.llen(redis_keys.OCR_QUEUE) == 3
    pid = int((sandbox.home / "run" / "redis.pid").read_text())
    os.kill(pid, signal.SIGTERM)  # a clean restart of the managed Redis: AOF must bring the queue back
    Retrying(stop=stop_after_delay(30), wait=wait_fixed(0.2), retry=retry_if_result(lambda alive: alive))(
        lambda: Path(f"/proc/{pid}").exists())
    restarted = sandbox.cli("up")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert sandbox.redis().llen(redis_keys.OCR_QUEUE) == 3, "queued jobs lost across the Redis restart"
    scale_worker(sandbox, 1)
    statuses = wait_all_decided(sandbox, ids, deadline_s=240)
    assert set(statuses.values()) == {"auto_approved"}, statuses


def test_documents_settle_when_the_api_is_killed_while_results_are_published(sandbox):
    card = corpus.first("KTP", "auto_approve")
    api_ready(sandbox)
    with httpx.Client(base_url=api_url(sandbox), timeout=30) as client:
        ids = [accepted(upload(client, token(sandbox, "kill-user"), card)) for _ in range(4)]
    status = json.loads((sandbox.home / "run" / "controller.json").read_text())
    for task in status["services"]["backend"]["tasks"]:
        os.kill(task["pid"], signal.SIGKILL)  # every API task dies; the agent starts new ones
    statuses = wait_all_decided(sandbox, ids, deadline_s=240)
    assert set(statuses.values()) == {"auto_approved"}, f"after the API was killed: {statuses}"
