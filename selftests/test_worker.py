"""The OCR worker against real Redis and S3 (moto server): claim/ack, concurrency, retries,
dead-letter, reaper, kill -9, heartbeat, health, and refusals of bad configuration.

OCR itself is a stand-in (``stand_in`` below, selected with ``OCR_ENGINE=selftests.test_worker:stand_in``)
whose behaviour is chosen by the bytes of the uploaded object, so each test scripts its jobs.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import redis

from filot_contract import redis_keys
from filot_contract.messages import OcrJob, OcrResult
from sandbox.envsettings import from_env
from sandbox.ocr.base import Recognition
from sandbox.worker.connections import redis_client, s3_client
from sandbox.worker.device import DeviceUnavailable, GpuInfo, choose_device, probe_cuda
from sandbox.worker.health import HealthServer
from sandbox.worker.jobqueue import JobQueue, claim_record
from sandbox.worker.reaper import Reaper
from sandbox.worker.settings import WorkerSettings
from sandbox.worker.worker import Worker
from selftests.services import NotReady, RedisServer, free_port, fresh_redis, redis_server, start_redis, wait_for  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
BUCKET = "filot-test-documents"
STAND_IN = "selftests.test_worker:stand_in"
DEADLINE_S = 20.0
T = TypeVar("T")


# -- the stand-in engine -------------------------------------------------------------------------


class StandIn:
    """Recognizes by content: ``ok``, ``unreadable`` (failed Recognition), ``crash`` (raises),
    ``pair`` (waits until a second ``pair`` job runs at the same time), ``hang`` (blocks forever when
    the process has STANDIN_HANG=1, so that a test can kill it mid-job; else like ``ok``)."""

    engine = "stand-in"
    pair_barrier = threading.Barrier(2)

    def __init__(self, device: str) -> None:
        self.device = device
        self.calls: list[bytes] = []
        self.running = 0
        self.max_running = 0
        self._lock = threading.Lock()

    def recognize(self, document_type: str, image_bytes: bytes) -> Recognition:
        with self._lock:
            self.calls.append(image_bytes)
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            return self._behave(document_type, image_bytes)
        finally:
            with self._lock:
                self.running -= 1

    def _behave(self, document_type: str, image_bytes: bytes) -> Recognition:
        if image_bytes == b"unreadable":
            return Recognition(error="no card found in the image")
        if image_bytes == b"crash":
            raise RuntimeError("stand-in engine crashed")
        if image_bytes == b"pair":
            self.pair_barrier.wait(timeout=DEADLINE_S)
        if image_bytes == b"hang" and os.environ.get("STANDIN_HANG") == "1":
            threading.Event().wait()  # blocks until the process is killed
        return Recognition(
            fields={"nik": "3171234567890001", "type": document_type}, field_confidence={"nik": 0.97}, confidence=0.95
        )


def stand_in(device: str) -> StandIn:
    """The ``OCR_ENGINE=module:factory`` entry point."""
    return StandIn(device)


def until(probe: Callable[[], T], what: str, deadline_s: float = DEADLINE_S) -> T:
    """``probe()`` once it is truthy; TimeoutError naming ``what`` and the last value otherwise."""

    def check() -> T:
        value = probe()
        if not value:
            raise NotReady(f"last seen: {value!r}")
        return value

    return wait_for(check, what, deadline_s)


def heartbeat_of(client: redis.Redis, worker_id: str) -> dict:
    raw = client.get(redis_keys.worker_heartbeat(worker_id))
    return json.loads(raw) if raw else {}


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    s3 = s3_client(from_env(WorkerSettings, _env_for("redis://127.0.0.1:1/0", endpoint)))
    s3.create_bucket(Bucket=BUCKET)
    s3.close()  # an S3 client left to the garbage collector fails a later test with its sockets' ResourceWarning
    yield endpoint
    server.stop()


def _env_for(redis_url: str, s3_endpoint: str, **overrides: str) -> dict[str, str]:
    env = {
        "REDIS_URL": redis_url,
        "CF_R2_ENDPOINT": s3_endpoint,
        "CF_R2_ACCESS_KEY_ID": "testing",
        "CF_R2_SECRET_ACCESS_KEY": "testing",
        "CF_R2_BUCKET_NAME": BUCKET,
        "OCR_ENGINE": STAND_IN,
        "OCR_GPU_ENABLED": "false",  # device detection has tests of its own (it imports torch: slow)
        "OCR_GPU_POLL_INTERVAL": "100",
        "OCR_GPU_VISIBILITY_TIMEOUT_S": "1",
        "HOST": "127.0.0.1",
        "WORKER_HEALTH_PORT": "0",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    env.update(overrides)
    return env


class Harness:
    """Puts jobs on the queue (object in S3 first) and follows results on the channel."""

    def __init__(self, redis_url: str, s3_endpoint: str) -> None:
        self.redis_url = redis_url
        self.s3_endpoint = s3_endpoint
        self.settings = from_env(WorkerSettings, _env_for(redis_url, s3_endpoint))
        self.redis = redis.Redis.from_url(redis_url, decode_responses=True)
        self.s3 = s3_client(self.settings)
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(redis_keys.OCR_RESULTS_CHANNEL)
        self.results: list[OcrResult] = []

    def env(self, **overrides: str) -> dict[str, str]:
        return _env_for(self.redis_url, self.s3_endpoint, **overrides)

    def enqueue(self, content: bytes, document_type: str = "KTP") -> OcrJob:
        key = f"documents/{uuid.uuid4()}.jpg"
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=content)
        job = OcrJob(
            jobId=str(uuid.uuid4()),
            documentId=str(uuid.uuid4()),
            documentType=document_type,
            bucket=BUCKET,
            objectKey=key,
            traceId="t-" + uuid.uuid4().hex,
        )
        self.redis.lpush(redis_keys.OCR_QUEUE, job.to_json())
        return job

    def wait_results(self, count: int, deadline_s: float = DEADLINE_S) -> list[OcrResult]:
        """Results from the channel until ``count`` have arrived in all (pub/sub: no polling)."""

        def arrived() -> list[OcrResult]:
            message = self.pubsub.get_message(timeout=0.2)
            if message is not None:
                self.results.append(OcrResult.from_json(message["data"]))
            if len(self.results) < count:
                raise NotReady(f"{len(self.results)} of {count} results: {[r.jobId for r in self.results]}")
            return self.results

        return wait_for(arrived, f"{count} results on {redis_keys.OCR_RESULTS_CHANNEL}", deadline_s, interval_s=0)

    def close(self) -> None:
        self.pubsub.close()
        self.redis.close()
        self.s3.close()


@pytest.fixture
def harness(fresh_redis: RedisServer, s3_endpoint: str) -> Iterator[Harness]:
    h = Harness(fresh_redis.url, s3_endpoint)
    yield h
    h.close()


@pytest.fixture
def start_worker(harness: Harness) -> Iterator[Callable[..., tuple[Worker, StandIn]]]:
    """Runs in-process workers on threads; stops and joins them after the test."""
    running: list[tuple[Worker, threading.Thread, list[Any]]] = []

    def start(**env: str) -> tuple[Worker, StandIn]:
        settings = from_env(WorkerSettings, harness.env(**env))
        recognizer = StandIn("cpu")
        clients = [redis_client(settings, blocking_s=settings.poll_interval_s), redis_client(settings), s3_client(settings)]
        worker = Worker(settings, clients[0], clients[1], clients[2], recognizer)
        thread = threading.Thread(target=worker.run, name=f"worker-{settings.worker_id}")
        thread.start()
        running.append((worker, thread, clients))
        return worker, recognizer

    yield start
    for worker, thread, clients in running:
        worker.stop()
        thread.join(DEADLINE_S)
        for client in clients:
            client.close()
        assert not thread.is_alive(), f"worker {worker.settings.worker_id} did not stop within {DEADLINE_S} s"


# -- in-process behaviour ------------------------------------------------------------------------


def test_claim_run_publish_ack(harness: Harness, start_worker) -> None:
    worker, engine = start_worker(WORKER_ID="w-happy")
    job = harness.enqueue(b"ok")
    [result] = harness.wait_results(1)
    assert (result.jobId, result.documentId, result.status) == (job.jobId, job.documentId, "succeeded")
    assert (result.device, result.engine, result.workerId, result.traceId) == ("cpu", "stand-in", "w-happy", job.traceId)
    assert result.fields["nik"] == "3171234567890001" and result.fieldConfidence == {"nik": 0.97} and result.confidence == 0.95
    stored = harness.redis.hget(redis_keys.OCR_RESULTS_STORE, job.jobId)
    assert stored is not None and OcrResult.from_json(stored) == result, "the published result is also stored durably"
    assert harness.redis.llen(redis_keys.OCR_PROCESSING) == 0, "acknowledged: nothing left in processing"
    assert harness.redis.hlen(redis_keys.OCR_CLAIMS) == 0, "acknowledged: claim removed"
    assert engine.calls == [b"ok"]


def test_runs_concurrency_jobs_at_once_and_no_more(harness: Harness, start_worker) -> None:
    _, engine = start_worker(OCR_GPU_CONCURRENCY="2")
    jobs = [harness.enqueue(b"pair") for _ in range(4)]
    results = harness.wait_results(4)
    assert sorted(r.jobId for r in results) == sorted(j.jobId for j in jobs)
    assert all(r.status == "succeeded" for r in results), [r.error for r in results]
    assert engine.max_running == 2, f"expected exactly 2 jobs at once (pairs meet at a barrier), saw {engine.max_running}"


def test_failed_recognition_is_a_final_failed_result(harness: Harness, start_worker) -> None:
    _, engine = start_worker()
    job = harness.enqueue(b"unreadable")
    [result] = harness.wait_results(1)
    assert (result.jobId, result.status, result.error) == (job.jobId, "failed", "no card found in the image")
    assert engine.calls == [b"unreadable"], "a failed Recognition is an answer, not a reason to retry"
    assert harness.redis.llen(redis_keys.OCR_DEAD_LETTER) == 0


def test_exception_is_retried_then_dead_lettered_with_a_failed_result(harness: Harness, start_worker) -> None:
    _, engine = start_worker(OCR_GPU_MAX_RETRIES="3")
    job = harness.enqueue(b"crash")
    [result] = harness.wait_results(1)
    assert (result.jobId, result.status) == (job.jobId, "failed")
    assert "failed 3 times" in result.error and "stand-in engine crashed" in result.error, result.error
    assert engine.calls == [b"crash"] * 3
    [entry] = [json.loads(raw) for raw in harness.redis.lrange(redis_keys.OCR_DEAD_LETTER, 0, -1)]
    assert (entry["jobId"], entry["attempts"]) == (job.jobId, 3) and "RuntimeError" in entry["error"], entry
    assert harness.redis.llen(redis_keys.OCR_PROCESSING) == 0 and harness.redis.llen(redis_keys.OCR_QUEUE) == 0


def test_storage_failure_is_retried(harness: Harness, start_worker) -> None:
    """The object is missing at first (storage error) and appears before the second attempt."""
    _, engine = start_worker(OCR_GPU_MAX_RETRIES="3")
    job = OcrJob(
        jobId="job-late-object",
        documentId="doc-late",
        documentType="NPWP",
        bucket=BUCKET,
        objectKey="documents/late.jpg",
        traceId="t",
    )
    harness.redis.lpush(redis_keys.OCR_QUEUE, job.to_json())
    until(lambda: harness.redis.hget(redis_keys.OCR_ATTEMPTS, job.jobId), "the first attempt")
    harness.s3.put_object(Bucket=BUCKET, Key=job.objectKey, Body=b"ok")
    [result] = harness.wait_results(1)
    assert result.status == "succeeded" and result.attempts >= 2, result
    assert engine.calls == [b"ok"], "the engine only ran once the object was there"


def test_unparsable_message_is_dead_lettered(harness: Harness, start_worker) -> None:
    start_worker()
    harness.redis.lpush(redis_keys.OCR_QUEUE, "not json")
    entry = until(lambda: harness.redis.lindex(redis_keys.OCR_DEAD_LETTER, 0), "a dead-letter entry")
    assert json.loads(entry)["raw"] == "not json" and "malformed" in json.loads(entry)["error"]
    assert harness.redis.llen(redis_keys.OCR_PROCESSING) == 0


def test_reaper_requeues_jobs_of_dead_workers_and_unclaimed_jobs(harness: Harness, start_worker) -> None:
    orphan = harness.enqueue(b"ok")  # claimed by a worker that died before recording its claim
    ghost_job = harness.enqueue(b"ok")  # claimed by a worker whose heartbeat has expired
    for _ in range(2):
        harness.redis.lmove(redis_keys.OCR_QUEUE, redis_keys.OCR_PROCESSING, "RIGHT", "LEFT")
    harness.redis.hset(redis_keys.OCR_CLAIMS, ghost_job.jobId, claim_record("ghost-worker"))
    start_worker(WORKER_ID="w-reaper")
    results = harness.wait_results(2)
    assert sorted(r.jobId for r in results) == sorted([orphan.jobId, ghost_job.jobId])
    assert harness.redis.llen(redis_keys.OCR_PROCESSING) == 0 and harness.redis.hlen(redis_keys.OCR_CLAIMS) == 0


def test_reaper_leaves_old_jobs_of_live_workers_alone_and_sweeps_one_at_a_time(harness: Harness) -> None:
    job = harness.enqueue(b"ok")
    raw = harness.redis.lmove(redis_keys.OCR_QUEUE, redis_keys.OCR_PROCESSING, "RIGHT", "LEFT")
    claim = json.dumps({"workerId": "busy-elsewhere", "claimedAt": "2020-01-01T00:00:00.000Z"})
    harness.redis.hset(redis_keys.OCR_CLAIMS, job.jobId, claim)
    harness.redis.set(redis_keys.worker_heartbeat("busy-elsewhere"), "{}", ex=redis_keys.HEARTBEAT_TTL_S)
    with redis_client(harness.settings) as client:
        reapers = [Reaper(client, JobQueue(client, harness.settings), name, visibility_timeout_s=1) for name in ("r1", "r2")]
        assert reapers[0].reap_if_turn() == [], "the claimant's heartbeat is fresh: its job is not reaped, however old"
        assert harness.redis.lrange(redis_keys.OCR_PROCESSING, 0, -1) == [raw]
        harness.redis.delete(redis_keys.worker_heartbeat("busy-elsewhere"))
        assert reapers[1].reap_if_turn() == [], "r1 holds the reaper lock for this interval"
        assert harness.redis.get(redis_keys.OCR_REAPER_LOCK) == "r1"
        assert reapers[1].sweep(reapers[1].abandoned, adopt=True, reason="test") == [job.jobId]
    assert harness.redis.lrange(redis_keys.OCR_QUEUE, 0, -1) == [raw] and harness.redis.hlen(redis_keys.OCR_CLAIMS) == 0


def test_heartbeat_is_fresh_has_a_ttl_and_follows_polls(harness: Harness, start_worker) -> None:
    worker, _ = start_worker(WORKER_ID="w-beat")
    key = redis_keys.worker_heartbeat("w-beat")
    first = until(lambda: heartbeat_of(harness.redis, "w-beat"), key)
    ttl = harness.redis.ttl(key)
    assert 0 < ttl <= redis_keys.HEARTBEAT_TTL_S, f"heartbeat TTL {ttl}, expected 1..{redis_keys.HEARTBEAT_TTL_S}"
    assert (first["workerId"], first["engine"], first["device"], first["queue"]) == (
        "w-beat",
        "stand-in",
        "cpu",
        redis_keys.OCR_QUEUE,
    )
    assert first["state"] == "polling" and first["startedAt"]

    until(lambda: heartbeat_of(harness.redis, "w-beat")["lastPollAt"] != first["lastPollAt"], "lastPollAt to advance")
    worker.stop()
    until(lambda: not harness.redis.exists(key), "the heartbeat key to go on shutdown")


def test_redis_refusing_writes_pauses_polling_and_the_worker_carries_on_after(harness: Harness, start_worker) -> None:
    """OOM (or READONLY after a failover) is a ResponseError, not a connection error: it used to end the
    loop, skip the shutdown and kill the heartbeat thread."""
    worker, _ = start_worker(WORKER_ID="w-oom", OCR_GPU_POLL_INTERVAL_MS="200")
    until(lambda: heartbeat_of(harness.redis, "w-oom"), "the first heartbeat of w-oom")
    harness.redis.config_set("maxmemory", 1)  # every write refused: OOM command not allowed
    try:
        until(lambda: not worker.state.redis_ok, "w-oom to pause polling while Redis refuses writes")
    finally:
        harness.redis.config_set("maxmemory", 0)
    job = harness.enqueue(b"ok")
    [result] = harness.wait_results(1)
    assert (result.jobId, result.status, result.workerId) == (job.jobId, "succeeded", "w-oom"), result
    assert worker.state.redis_ok, "w-oom: expected polling to resume once Redis accepts writes again"


def test_health_reports_ok_then_names_redis_when_it_is_down(s3_endpoint: str) -> None:
    server = start_redis()
    settings = from_env(WorkerSettings, _env_for(server.url, s3_endpoint))
    client, probe = redis_client(settings, blocking_s=settings.poll_interval_s), redis_client(settings)
    storage = s3_client(settings)
    worker = Worker(settings, client, probe, storage, StandIn("cpu"))
    health = HealthServer("127.0.0.1", 0, worker.health)
    health.start()
    url = f"http://127.0.0.1:{health.port}/health"
    try:
        ok = httpx.get(url, timeout=5)
        assert ok.status_code == 200, ok.text
        assert ok.json()["status"] == "ok" and ok.json()["redisConnected"] is True and ok.json()["device"] == "cpu"
        server.stop()
        down = httpx.get(url, timeout=10)
        assert down.status_code == 503, down.text
        assert down.json()["redisConnected"] is False and any("Redis unreachable" in p for p in down.json()["problems"])
        assert httpx.get(url.replace("/health", "/other"), timeout=5).status_code == 404
    finally:
        health.stop()
        server.stop()
        client.close()
        probe.close()
        storage.close()


def test_redis_over_tls_with_password_and_ca_file(s3_endpoint: str, tmp_path: Path) -> None:
    import trustme

    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    paths = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    ca.cert_pem.write_to_path(paths["ca"])
    server_cert.cert_chain_pems[0].write_to_path(paths["cert"])
    server_cert.private_key_pem.write_to_path(paths["key"])
    tls_port = free_port()
    tls_args = (
        "--tls-port",
        str(tls_port),
        "--tls-cert-file",
        str(paths["cert"]),
        "--tls-key-file",
        str(paths["key"]),
        "--tls-ca-cert-file",
        str(paths["ca"]),
        "--tls-auth-clients",
        "no",
    )
    server = start_redis(tls_args)
    try:
        with server.client() as plain:
            plain.config_set("requirepass", "tls-test-password")
        url = f"rediss://127.0.0.1:{tls_port}/0"
        good = from_env(
            WorkerSettings, _env_for(url, s3_endpoint, REDIS_PASSWORD="tls-test-password", REDIS_TLS_CA_FILE=str(paths["ca"]))
        )
        with redis_client(good) as client:
            assert client.ping() is True
        untrusted = from_env(WorkerSettings, _env_for(url, s3_endpoint, REDIS_PASSWORD="tls-test-password"))
        with redis_client(untrusted) as client, pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            client.ping()
    finally:
        server.stop()


def test_without_cuda_autofallback_runs_on_cpu_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    found = probe_cuda()
    if isinstance(found, GpuInfo):
        pytest.skip(f"this machine has a CUDA device ({found.summary}): the fallback cannot happen here")
    with caplog.at_level(logging.INFO, logger="sandbox.worker.device"):
        assert choose_device(gpu_enabled=True, autofallback=True) == "cpu"
        assert choose_device(gpu_enabled=False, autofallback=False) == "cpu"
    assert f"GPU not available ({found}); falling back to CPU" in caplog.messages
    assert "GPU disabled (OCR_GPU_ENABLED=false); running on CPU" in caplog.messages
    with pytest.raises(DeviceUnavailable, match="OCR_GPU_AUTOFALLBACK=false, but GPU not available"):
        choose_device(gpu_enabled=True, autofallback=False)


# -- the process: configuration, kill -9, restart, SIGTERM ----------------------------------------


def test_real_tesseract_reads_a_ktp_and_fails_a_blank_image(harness: Harness, tmp_path: Path) -> None:
    """The whole product path with the real engine: S3 object -> sandbox.ocr (Tesseract) -> result."""
    manifest = json.loads((REPO / "fixtures/ktp/manifest.json").read_text())
    card = next(c for c in manifest["cards"] if c["file"] == "ktp-clean-001.png")
    ktp = harness.enqueue((REPO / "fixtures/ktp" / card["file"]).read_bytes())
    blank = harness.enqueue((REPO / "fixtures/ktp/blank-001.png").read_bytes())
    worker = _run_worker(harness.env(OCR_ENGINE="tesseract", WORKER_HEALTH_PORT=str(free_port())), tmp_path / "worker.log")
    try:
        results = {r.jobId: r for r in harness.wait_results(2, deadline_s=60)}
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(DEADLINE_S)
    read, refused = results[ktp.jobId], results[blank.jobId]
    assert (read.status, read.engine, read.device) == ("succeeded", "tesseract", "cpu"), read.error
    assert read.fields.get("nik") == card["fields"]["nik"] and read.confidence > 0.5, read.fields
    assert refused.status == "failed" and "blank" in refused.error, refused.error


def _run_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    full = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), **env}
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "sandbox.worker"], cwd=REPO, env=full, stdout=log, stderr=subprocess.STDOUT
        )


def _refusal(env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), **env}
    return subprocess.run(
        [sys.executable, "-m", "sandbox.worker"], cwd=REPO, env=full, capture_output=True, text=True, timeout=DEADLINE_S
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"OCR_GPU_CONCURRENCY": "abc"}, "OCR_GPU_CONCURRENCY: Input should be a valid integer"),
        ({"OCR_GPU_AUTOFALLBACK": "perhaps"}, "OCR_GPU_AUTOFALLBACK: Input should be a valid boolean"),
        (
            {"OCR_GPU_POLL_INTERVAL_MS": "0", "OCR_GPU_POLL_INTERVAL": ""},
            "OCR_GPU_POLL_INTERVAL_MS: Input should be greater than or equal to 10",
        ),
        ({"REDIS_URL": "http://:hunter2@127.0.0.1:1/0"}, "REDIS_URL: expected a redis:// or rediss:// URL"),
        ({"REDIS_URL": "redis://:hunt/er2@127.0.0.1:6379/0"}, "REDIS_URL: expected a numeric port (0-65535) after the host"),
        ({"OCR_ENGINE": "easyocr"}, "OCR_ENGINE: expected one of tesseract, rapidocr, cuda"),
        ({"OCR_GPU_ENABLED": "true", "OCR_GPU_AUTOFALLBACK": "false"}, "GPU not available (no CUDA device"),
        ({"OCR_ENGINE": "tesseract", "TESSDATA_PREFIX": "/nonexistent/tessdata"},
         "tesseract has no 'ind' language data (installed: none); install Debian's tesseract-ocr-ind"),
    ],
    ids=["concurrency", "autofallback", "poll-interval", "redis-url", "redis-port", "engine", "no-gpu-no-fallback", "no-ind-tessdata"],
)
def test_bad_configuration_exits_2_with_one_line(overrides: dict[str, str], expected: str) -> None:
    if overrides.get("OCR_GPU_AUTOFALLBACK") == "false" and isinstance(probe_cuda(), GpuInfo):
        pytest.skip("this machine has a CUDA device: a worker that requires one starts")
    env = _env_for("redis://:hunter2@127.0.0.1:1/0", "http://127.0.0.1:1", **overrides)
    done = _refusal({k: v for k, v in env.items() if v})
    assert done.returncode == 2, f"exit {done.returncode}, stderr: {done.stderr}"
    assert len(done.stderr.strip().splitlines()) == 1 and expected in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "hunter2" not in done.stderr + done.stdout and "hunt" not in done.stderr


def test_missing_redis_url_is_named() -> None:
    done = _refusal({"OCR_ENGINE": STAND_IN})
    assert done.returncode == 2 and "REDIS_URL: required but not set" in done.stderr, done.stderr


def test_waiting_for_redis_at_start_is_unhealthy_and_stops_on_sigterm(s3_endpoint: str, tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "worker.log"
    worker = _run_worker(_env_for(f"redis://:hunter2@127.0.0.1:{free_port()}/0", s3_endpoint, WORKER_HEALTH_PORT=str(port)), log_path)
    try:
        until(lambda: "waiting for Redis" in log_path.read_text(), "the worker to report that it waits for Redis")
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10)
        assert health.status_code == 503 and "Redis unreachable" in health.json()["problems"][0], health.text
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(DEADLINE_S)
    logs = log_path.read_text()
    assert code == 0, f"exit {code}:\n{logs[-2000:]}"
    assert "hunter2" not in logs and "redis://***@127.0.0.1" in logs


@pytest.mark.parametrize("successor", ["restarted", "other"])
def test_kill_9_mid_job_is_finished_exactly_once(harness: Harness, tmp_path: Path, successor: str) -> None:
    """``restarted``: the same WORKER_ID comes back and recovers its claim at once; ``other``: a second
    worker's reaper re-queues it once the dead worker's heartbeat has expired (up to its TTL)."""
    log_path = tmp_path / "workers.log"
    env = harness.env(WORKER_ID="w-doomed", WORKER_HEALTH_PORT=str(free_port()))
    doomed = _run_worker({**env, "STANDIN_HANG": "1"}, log_path)
    job = harness.enqueue(b"hang")
    try:
        until(lambda: heartbeat_of(harness.redis, "w-doomed").get("state") == "busy", "w-doomed to be mid-job")
    finally:
        doomed.kill()  # SIGKILL: no shutdown, the claim stays behind
        doomed.wait(DEADLINE_S)
    assert harness.redis.llen(redis_keys.OCR_PROCESSING) == 1
    worker_id = "w-doomed" if successor == "restarted" else "w-successor"
    health_port = free_port()
    rescuer = _run_worker({**env, "WORKER_ID": worker_id, "WORKER_HEALTH_PORT": str(health_port)}, log_path)
    try:
        [result] = harness.wait_results(1, deadline_s=redis_keys.HEARTBEAT_TTL_S + DEADLINE_S)
        assert (result.jobId, result.status, result.workerId, result.attempts) == (job.jobId, "succeeded", worker_id, 2)
        health = httpx.get(f"http://127.0.0.1:{health_port}/health", timeout=5)
        assert health.status_code == 200 and health.json()["lastPollAgeS"] is not None, health.text
    finally:
        rescuer.send_signal(signal.SIGTERM)
        code = rescuer.wait(DEADLINE_S)
    logs = log_path.read_text()
    assert code == 0, f"SIGTERM should stop the worker cleanly, exit {code}:\n{logs[-3000:]}"
    assert harness.pubsub.get_message(timeout=0.5) is None, "a second result was published"
    assert harness.redis.hlen(redis_keys.OCR_RESULTS_STORE) == 1 and harness.redis.llen(redis_keys.OCR_PROCESSING) == 0
    assert not harness.redis.exists(redis_keys.worker_heartbeat(worker_id)), "a clean shutdown removes the heartbeat"
