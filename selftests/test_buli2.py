"""The BULI2 simulator as a process: escalations, signed callbacks to a receiver that checks the HMAC,
idempotency, scripted decisions, callback retries, fault modes, and refusal of bad configuration."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from filot_contract import buli2
from selftests.services import NotReady, free_port, wait_for

REPO = Path(__file__).resolve().parent.parent
API_KEY = "test-buli2-api-key"
SECRET = "test-buli2-signature-secret-0123456789"
DEADLINE_S = 15.0


@dataclass
class Callback:
    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: int

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """FiLot's ``/internal/reviews`` in miniature: verifies the signature; can be told to fail first."""

    server: ThreadingHTTPServer
    received: queue.Queue = field(default_factory=queue.Queue)
    fail_next: list[int] = field(default_factory=list)  # statuses to answer before behaving

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/internal/reviews"

    def next(self) -> Callback:
        try:
            return self.received.get(timeout=DEADLINE_S)
        except queue.Empty:
            raise AssertionError(f"no callback reached {self.url} within {DEADLINE_S} s") from None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {
                name: self.headers[name] for name in (buli2.TIMESTAMP_HEADER, buli2.SIGNATURE_HEADER, buli2.CALLBACK_ID_HEADER)
            }
            verified = None not in headers.values() and buli2.verify(
                SECRET, headers[buli2.TIMESTAMP_HEADER], body, headers[buli2.SIGNATURE_HEADER]
            )
            me = holder[0]
            status = me.fail_next.pop(0) if me.fail_next else (200 if verified else 401)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            me.received.put(Callback(headers, body, verified, status))

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(Receiver(server))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder[0]
    server.shutdown()
    server.server_close()


def _env(port: int, **overrides: str) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(REPO),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "BULI2_API_KEY": API_KEY,
        "BULI2_SIGNATURE_SECRET": SECRET,
        "BULI2_CALLBACK_DELAY_MS": "50",
        "BULI2_CALLBACK_MAX_ATTEMPTS": "3",
    }
    env.update(overrides)
    return env


def answers_health(client: httpx.Client, process: subprocess.Popen) -> None:
    """NotReady until the simulator answers ``GET /health`` with 200."""
    if process.poll() is not None:
        raise RuntimeError(f"the simulator exited with {process.returncode}")
    try:
        client.get("/health").raise_for_status()
    except httpx.HTTPError as error:
        raise NotReady(str(error)) from error


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """One simulator process for the module; the client's base URL is the simulator."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("buli2") / "buli2.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "sandbox.buli2"], cwd=REPO, env=_env(port), stdout=log, stderr=subprocess.STDOUT
        )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        wait_for(lambda: answers_health(client, process), f"the BULI2 simulator on port {port} (log {log_path})", DEADLINE_S)
        yield client
    finally:
        client.close()
        process.send_signal(signal.SIGTERM)
        # uvicorn re-raises the SIGTERM it handled after a clean shutdown
        assert process.wait(DEADLINE_S) in (0, -signal.SIGTERM), log_path.read_text()[-2000:]


@pytest.fixture
def buli2_sim(sim: httpx.Client) -> httpx.Client:
    sim.post("/admin/reset").raise_for_status()
    return sim


def escalate(client: httpx.Client, callback_url: str | None, request_id: str | None = None, key: str = API_KEY) -> httpx.Response:
    body = {
        "reviewRequestId": request_id or f"rr-{uuid.uuid4()}",
        "documentId": f"doc-{uuid.uuid4()}",
        "score": 60,
        "reasons": ["low confidence"],
    }
    if callback_url:
        body["callbackUrl"] = callback_url
    return client.post("/reviews", json=body, headers={"Authorization": f"Bearer {key}"})


def review_of(client: httpx.Client, review_id: str) -> dict:
    [review] = [r for r in client.get("/admin/reviews").json()["reviews"] if r["reviewId"] == review_id]
    return review


def settled(client: httpx.Client, review_id: str) -> dict:
    """The review once its delivery has ended (delivered, refused or given up)."""

    def done() -> dict:
        review = review_of(client, review_id)
        if review["state"] == "pending":
            raise NotReady(f"deliveries so far: {review['deliveries']}")
        return review

    return wait_for(done, f"review {review_id} to settle", DEADLINE_S, interval_s=0.05)


def test_escalation_gets_a_review_id_and_a_signed_callback(buli2_sim: httpx.Client, receiver: Receiver) -> None:
    response = escalate(buli2_sim, receiver.url)
    assert response.status_code == 201, response.text
    review_id = response.json()["reviewId"]
    callback = receiver.next()
    assert callback.verified, f"signature did not verify: {callback.headers}"
    assert abs(buli2.parse_timestamp(callback.headers[buli2.TIMESTAMP_HEADER]) - time.time()) < buli2.MAX_SKEW_S
    payload = callback.payload
    assert set(payload) >= {"callbackId", "reviewId", "documentId", "decision", "reviewer", "decidedAt"}
    assert (payload["reviewId"], payload["decision"]) == (review_id, "approved")
    assert callback.headers[buli2.CALLBACK_ID_HEADER] == payload["callbackId"]
    review = settled(buli2_sim, review_id)
    assert review["state"] == "delivered" and [d["status"] for d in review["deliveries"]] == [200]


def test_scripted_decision_is_sent(buli2_sim: httpx.Client, receiver: Receiver) -> None:
    body = {"reviewRequestId": "rr-scripted", "documentId": "doc-to-reject", "callbackUrl": receiver.url}
    buli2_sim.post("/admin/decisions", json={"documentId": "doc-to-reject", "decision": "rejected"}).raise_for_status()
    assert buli2_sim.post("/reviews", json=body, headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 201
    assert receiver.next().payload["decision"] == "rejected"


def test_escalations_are_idempotent_per_review_request(buli2_sim: httpx.Client, receiver: Receiver) -> None:
    first = escalate(buli2_sim, receiver.url, request_id="rr-once")
    again = escalate(buli2_sim, receiver.url, request_id="rr-once")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["reviewId"] == again.json()["reviewId"] and again.json()["duplicate"] is True
    settled(buli2_sim, first.json()["reviewId"])
    receiver.next()
    assert receiver.received.empty(), "one review request, one callback"
    assert len(buli2_sim.get("/admin/reviews").json()["reviews"]) == 1


@pytest.mark.parametrize("key", [None, "wrong-key"], ids=["no-token", "wrong-token"])
def test_escalation_needs_the_api_key(buli2_sim: httpx.Client, key: str | None) -> None:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = buli2_sim.post("/reviews", json={"reviewRequestId": "rr-x", "documentId": "d"}, headers=headers)
    assert response.status_code == 401 and "bearer" in response.json()["detail"]
    assert buli2_sim.get("/admin/reviews").json()["reviews"] == []


def test_malformed_escalation_is_422(buli2_sim: httpx.Client) -> None:
    response = buli2_sim.post("/reviews", json={"documentId": "d"}, headers={"Authorization": f"Bearer {API_KEY}"})
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["reviewRequestId"], response.text


def test_failed_callbacks_are_retried_until_delivered(buli2_sim: httpx.Client, receiver: Receiver) -> None:
    receiver.fail_next[:] = [500, 503]
    review_id = escalate(buli2_sim, receiver.url).json()["reviewId"]
    review = settled(buli2_sim, review_id)
    assert review["state"] == "delivered" and [d["status"] for d in review["deliveries"]] == [500, 503, 200]
    bodies = {receiver.next().body for _ in range(3)}
    assert len(bodies) == 1, "every retry carries the same body (same callbackId)"


def test_unreachable_callback_url_is_given_up_after_bounded_attempts(buli2_sim: httpx.Client) -> None:
    review_id = escalate(buli2_sim, f"http://127.0.0.1:{free_port()}/internal/reviews").json()["reviewId"]
    review = settled(buli2_sim, review_id)
    assert review["state"] == "gave_up" and len(review["deliveries"]) == 3, review
    assert all(d["status"] is None and "ConnectError" in d["error"] for d in review["deliveries"])


def test_bad_signature_mode_is_refused_by_the_receiver_and_not_retried(buli2_sim: httpx.Client, receiver: Receiver) -> None:
    buli2_sim.post("/admin/mode", json={"mode": "normal", "badSignature": True}).raise_for_status()
    review_id = escalate(buli2_sim, receiver.url).json()["reviewId"]
    callback = receiver.next()
    assert not callback.verified and callback.answered == 401
    review = settled(buli2_sim, review_id)
    assert review["state"] == "refused" and [d["status"] for d in review["deliveries"]] == [401]


@pytest.mark.parametrize(("mode", "status"), [("down", 503), ("error5xx", 500)])
def test_fault_modes_refuse_escalations_and_record_them(
    buli2_sim: httpx.Client, receiver: Receiver, mode: str, status: int
) -> None:
    buli2_sim.post("/admin/mode", json={"mode": mode}).raise_for_status()
    response = escalate(buli2_sim, receiver.url, request_id="rr-refused")
    assert response.status_code == status and mode in response.json()["detail"]
    assert buli2_sim.get("/health").status_code == (503 if mode == "down" else 200)
    listing = buli2_sim.get("/admin/reviews").json()
    assert listing["reviews"] == [] and [(r["reviewRequestId"], r["status"]) for r in listing["refused"]] == [
        ("rr-refused", status)
    ]
    buli2_sim.post("/admin/mode", json={"mode": "normal"}).raise_for_status()
    assert escalate(buli2_sim, receiver.url, request_id="rr-refused").status_code == 201, "accepted once BULI2 is back"


def test_slow_mode_delays_the_answer(buli2_sim: httpx.Client) -> None:
    buli2_sim.post("/admin/mode", json={"mode": "slow", "delayMs": 1500}).raise_for_status()
    with httpx.Client(base_url=buli2_sim.base_url, timeout=0.5) as impatient, pytest.raises(httpx.ReadTimeout):
        escalate(impatient, "http://127.0.0.1:9/cb")
    started = time.monotonic()
    response = escalate(buli2_sim, "http://127.0.0.1:9/cb")
    assert response.status_code == 201 and time.monotonic() - started >= 1.5


def test_default_callback_url_and_bad_configuration(receiver: Receiver, tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.buli2"],
        cwd=REPO,
        env=_env(port, FILOT_CALLBACK_URL=receiver.url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            wait_for(lambda: answers_health(client, process), "a second simulator", DEADLINE_S)
            assert escalate(client, None).status_code == 201
            assert receiver.next().verified
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(DEADLINE_S)
    env = _env(free_port(), BULI2_CALLBACK_DELAY_MS="soon")
    del env["BULI2_API_KEY"]
    done = subprocess.run(
        [sys.executable, "-m", "sandbox.buli2"], cwd=REPO, env=env, capture_output=True, text=True, timeout=DEADLINE_S
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert "BULI2_API_KEY: required but not set" in done.stderr and "BULI2_CALLBACK_DELAY_MS" in done.stderr
    assert SECRET not in done.stderr


@pytest.mark.parametrize("stamp", ["nan", "NaN", "inf", "-inf", "1e9", "-5", "+5", " 1700000000", "1700000000\n",
                                   "\u0661\u0667\u0660\u0660", "", "0x10"])
def test_callback_timestamp_that_is_not_unix_seconds_is_refused_naming_it(stamp: str) -> None:
    """``float()`` takes nan and inf; the skew check then said "nans from now" and let inf through as stale."""
    with pytest.raises(ValueError) as refused:
        buli2.parse_timestamp(stamp)
    expected = f"expected a Unix timestamp in seconds, got {stamp!r}"
    assert str(refused.value) == expected, f"parse_timestamp({stamp!r}): expected {expected!r}, got {refused.value!r}"


@pytest.mark.parametrize(("stamp", "seconds"), [("1700000000", 1700000000.0), ("1700000000.25", 1700000000.25), ("0", 0.0)])
def test_callback_timestamp_in_unix_seconds_is_read(stamp: str, seconds: float) -> None:
    assert buli2.parse_timestamp(stamp) == seconds, f"parse_timestamp({stamp!r}): expected {seconds}"


@pytest.mark.parametrize("signature", ["sha256=\u00e9" * 3, "sha256=" + "0" * 63 + "\u0660", ""])
def test_a_signature_header_with_non_ascii_text_is_a_mismatch_not_an_error(signature: str) -> None:
    """``hmac.compare_digest`` raises TypeError on non-ASCII str: the API answered such a callback with a 500."""
    matches = buli2.verify(SECRET, "1700000000", b"{}", signature)
    assert matches is False, f"buli2.verify(signature={signature!r}): expected False, got {matches!r}"
