"""The FiLot API against real PostgreSQL, Redis, S3 (moto server) and a BULI2 stand-in over HTTP.

The API runs in-process under uvicorn on a free port; a test plays the OCR worker by taking the job
off the queue and writing the result to the durable store plus the results channel, as the worker
does. The scorer is a stand-in (score = confidence * 100), so each test picks its verdict.
"""

from __future__ import annotations

import io
import json
import secrets
import struct
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import httpx
import jwt
import psycopg
import pytest
import redis
import uvicorn
from botocore.config import Config
from moto.server import ThreadedMotoServer
from PIL import Image

from filot_contract import buli2, redis_keys, temporal
from filot_contract.messages import OcrJob, OcrResult
from filot_contract.secrets import KNOWN_DEFAULT_SECRETS
from filot_gate.temporal_runs import TemporalConnection, follow_run
from sandbox.api import callbacks
from sandbox.api.app import create_app
from sandbox.api.errors import ApiError
from sandbox.api.escalations import Escalator
from sandbox.api.settings import ConfigError, load_settings
from sandbox.migrations import apply as apply_migrations
from selftests.services import (  # noqa: F401  (pytest fixtures are used by name)
    JsonStubHandler,
    NotReady,
    PostgresServer,
    RedisServer,
    TemporalServer,
    free_port,
    postgres_server,
    redis_server,
    start_redis,
    temporal_server,
    wait_for,
)

JWT_SECRET = secrets.token_urlsafe(48)
SIGNATURE_SECRET = secrets.token_urlsafe(32)
BUCKET = "filot-documents-test"
MAX_UPLOAD = 256 * 1024
RATE_LIMIT = 5
ORIGIN = "https://app.filot.test"
DEADLINE_S = 15.0


def stand_in_scorer(
    document_type: str, fields: Any, field_confidence: Any, confidence: float
) -> tuple[float, list[str]]:
    """score = confidence * 100: the test chooses approve (>= 0.85), review, or reject (<= 0.35)."""
    return confidence * 100, [f"stand-in score for {document_type} from confidence {confidence:.2f}"]


# --------------------------------------------------------------------------------------------- helpers


def token(sub: str | None = None, role: str = "user", secret: str = JWT_SECRET, ttl_s: int = 300, **claims: Any) -> str:
    payload = {"sub": sub or f"user-{uuid.uuid4().hex[:8]}", "role": role, "exp": int(time.time()) + ttl_s, **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, secret, algorithm="HS256")


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def noise_image(width: int = 240, height: int = 150, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((width, height), 64).convert("RGB").save(buffer, format=fmt)
    return buffer.getvalue()


def blank_image() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


class Buli2Stub:
    """BULI2's intake over real HTTP: records escalations, answers from a script (default 201)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[dict[str, Any]] = []
        self.script: list[int] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        stub = self

        class Handler(JsonStubHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = stub.script.pop(0) if stub.script else 201
                stub.received.append({"status": status, "body": body, "auth": self.headers["Authorization"]})
                payload = {"reviewId": f"rv-{body['reviewRequestId']}"} if status < 300 else {"error": "scripted"}
                self.answer(status, payload)

            def do_GET(self) -> None:
                self.answer(200, {"status": "ok"})

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def deliveries(self, review_request_id: str) -> list[dict[str, Any]]:
        return [r for r in self.received if r["body"]["reviewRequestId"] == review_request_id]


@dataclass
class RunningApi:
    """The API under uvicorn in a thread of this process."""

    environ: dict[str, str]
    port: int = field(default_factory=free_port)
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RunningApi:
        app = create_app(load_settings(self.environ), scorer=stand_in_scorer)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None))
        self.thread = threading.Thread(target=self.server.run, name=f"api-{self.port}", daemon=True)
        self.thread.start()

        def started() -> None:
            assert self.thread is not None and self.server is not None
            if not self.thread.is_alive():
                raise RuntimeError("the API thread ended during start-up (see captured log)")
            if not self.server.started:
                raise NotReady("uvicorn not started")

        wait_for(started, f"the API on {self.url} to start", DEADLINE_S)
        return self

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(DEADLINE_S)
            assert not self.thread.is_alive(), "the API did not stop within its deadline"


@dataclass
class Stack:
    """What a test talks to: the API, and direct handles on its database, Redis and bucket."""

    api: RunningApi
    db_url: str
    redis: redis.Redis
    s3: Any
    buli2: Buli2Stub

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api.url, timeout=10)

    def upload(
        self,
        http: httpx.Client,
        *,
        sub: str | None = None,
        data: bytes | None = None,
        document_type: str = "KTP",
        filename: str = "ktp.png",
    ) -> httpx.Response:
        files = {"file": (filename, noise_image() if data is None else data, "image/png")}
        return http.post("/documents", headers=bearer(token(sub)), files=files, data={"documentType": document_type})

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.db_url) as conn:
            return conn.execute(sql, params).fetchall()

    def rows_and_objects(self) -> tuple[int, int]:
        return self.query("SELECT count(*) FROM documents")[0][0], self.s3.list_objects_v2(Bucket=BUCKET)["KeyCount"]

    def counts(self) -> tuple[int, int, int]:
        """(documents rows, objects in the bucket, queued jobs): all unchanged after a refused upload."""
        return *self.rows_and_objects(), self.redis.llen(redis_keys.OCR_QUEUE)

    def finish_job(self, job_id: str, confidence: float, status: str = "succeeded", publish: bool = True) -> OcrResult:
        """Play the worker: take the job off the queue, store and publish its result."""
        raw = next(j for j in self.redis.lrange(redis_keys.OCR_QUEUE, 0, -1) if json.loads(j)["jobId"] == job_id)
        self.redis.lrem(redis_keys.OCR_QUEUE, 1, raw)
        job = OcrJob.from_json(raw)
        result = OcrResult(
            jobId=job.jobId,
            documentId=job.documentId,
            status=status,
            engine="stand-in",
            device="cpu",
            fields={"nik": "3171012501900003", "nama": "BUDI SANTOSO"} if status == "succeeded" else {},
            fieldConfidence={"nik": confidence},
            confidence=confidence,
            durationMs=120,
            workerId="test-worker",
            error=None if status == "succeeded" else "no card found in the image",
        )
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(redis_keys.OCR_RESULTS_STORE, job.jobId, result.to_json())
            if publish:
                pipe.publish(redis_keys.OCR_RESULTS_CHANNEL, result.to_json())
            pipe.execute()
        return result

    def wait_status(self, http: httpx.Client, document_id: str, wanted: str) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def reached() -> dict[str, Any]:
            seen.update(http.get(f"/verification/status/{document_id}").json())
            if seen.get("status") != wanted:
                raise NotReady(f"status {seen.get('status')!r}")
            return dict(seen)

        return wait_for(reached, f"document {document_id} to reach {wanted}", DEADLINE_S)


def api_environ(db_url: str, redis_url: str, s3_url: str, buli2_url: str, **overrides: str) -> dict[str, str]:
    environ = {
        "NODE_ENV": "test",
        "DATABASE_URL": db_url,
        "JWT_SECRET": JWT_SECRET,
        "SESSION_SECRET": secrets.token_urlsafe(32),
        "SERVICE_INTERNAL_KEY": secrets.token_urlsafe(16),
        "REDIS_URL": redis_url,
        "CF_R2_ENDPOINT": s3_url,
        "CF_R2_ACCESS_KEY_ID": "test-access-key",
        "CF_R2_SECRET_ACCESS_KEY": "test-secret-key",
        "CF_R2_BUCKET_NAME": BUCKET,
        "BULI2_API_URL": buli2_url,
        "BULI2_API_KEY": "buli2-test-key",
        "BULI2_SIGNATURE_SECRET": SIGNATURE_SECRET,
        "BULI2_CALLBACK_URL": "http://127.0.0.1:1/internal/reviews",
        "BULI2_RETRY_BASE_S": "0.2",
        "BULI2_RETRY_MAX_S": "1",
        "CORS_ALLOWED_ORIGINS": f"{ORIGIN}, https://admin.filot.test",
        "RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT),
        "MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
        "MAX_IMAGE_PIXELS": "4000000",
        "PROBE_TIMEOUT_S": "1",
        "FILOT_TASK_DEFINITION_ARN": "arn:aws:ecs:ap-southeast-2:070017891928:task-definition/filot-backend-task:7",
        "FILOT_IMAGE": "filot-backend:test",
    }
    environ.update(overrides)
    return environ


# -------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    url = f"http://127.0.0.1:{server._port}"
    with s3_client(url) as s3:
        s3.create_bucket(Bucket=BUCKET)
    yield url
    server.stop()


@contextmanager
def s3_client(url: str) -> Iterator[Any]:
    """An S3 client of the module's moto server, closed after use: an unclosed one leaves its sockets to the
    garbage collector, whose ResourceWarning then fails whichever test it happens to run in."""
    client = boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(s3={"addressing_style": "path"}),
    )
    try:
        yield client
    finally:
        client.close()


def migrated_database(server: PostgresServer) -> str:
    url = server.create_database("api")
    apply_migrations(url)
    return url


@pytest.fixture(scope="module")
def stack(postgres_server: PostgresServer, redis_server: RedisServer, s3_url: str) -> Iterator[Stack]:  # noqa: F811
    stub = Buli2Stub(free_port())
    stub.start()
    db_url = migrated_database(postgres_server)
    with redis_server.client() as client:
        client.flushall()
    api = RunningApi(api_environ(db_url, redis_server.url, s3_url, stub.url)).start()
    with redis_server.client() as client, s3_client(s3_url) as s3:
        yield Stack(api, db_url, client, s3, stub)
    api.stop()
    stub.stop()


@pytest.fixture
def http(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client


# -------------------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"JWT_SECRET": "changeme"}, "JWT_SECRET: is a known default"),
        ({"JWT_SECRET": "your-super-secret-jwt-key-change-this-in-production"}, "JWT_SECRET: is a known default"),
        ({"JWT_SECRET": "short-but-random-Q8#z"}, "JWT_SECRET: is 21 characters long"),
        ({"JWT_SECRET": "a" * 40}, "JWT_SECRET: uses fewer than 8 distinct characters"),
        ({"DATABASE_URL": ""}, "DATABASE_URL: required but not set"),
        (
            {"PORT": "eighty"},
            "PORT: Input should be a valid integer, unable to parse string as an integer (got 'eighty')",
        ),
        ({"AI_SCORE_THRESHOLD_AUTO_REJECT": "90"}, "AI_SCORE_THRESHOLD_AUTO_REJECT must be below"),
        ({"REDIS_URL": "redis://default:s3cr/et@127.0.0.1:6379/0"}, "REDIS_URL: expected a numeric port (0-65535) after the host"),
        ({"BULI2_API_URL": "http://127.0.0.1:99999"}, "BULI2_API_URL: expected a numeric port (0-65535) after the host"),
        ({"NODE_ENV": "production"}, "REDIS_URL must use TLS (rediss://) when NODE_ENV=production"),
        ({"BULI2_VERIFY_SIGNATURES": "false"}, "BULI2_VERIFY_SIGNATURES=false: callback signatures are not verified; refusing"),
        ({"BULI2_CALLBACK_REPLAY_TTL_S": "0"}, "BULI2_CALLBACK_REPLAY_TTL_S=0: replayed callbacks are not refused; refusing"),
    ],
)
def test_bad_configuration_is_one_clear_error(overrides: dict[str, str], expected: str) -> None:
    environ = api_environ(
        "postgresql://u:dbpass@127.0.0.1:1/db",
        "redis://127.0.0.1:1/0",
        "http://127.0.0.1:1",
        "http://127.0.0.1:1",
        **overrides,
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(environ)
    message = str(caught.value)
    assert expected in message, f"expected {expected!r} in: {message}"
    assert "\n" not in message and "dbpass" not in message and "s3cr" not in message and overrides.get("JWT_SECRET", "\0") not in message


def test_entry_point_exits_2_with_one_line_and_no_traceback() -> None:
    environ = api_environ(
        "postgresql://127.0.0.1:1/db",
        "redis://127.0.0.1:1/0",
        "http://127.0.0.1:1",
        "http://127.0.0.1:1",
        JWT_SECRET="your-secret-key",
    )
    done = subprocess.run(
        [sys.executable, "-m", "sandbox.api"], env=environ, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, f"exit {done.returncode}, stderr: {done.stderr}"
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("filot-api: invalid configuration: JWT_SECRET: is a known default"), done.stderr
    assert "your-secret-key" not in done.stderr, done.stderr


# ----------------------------------------------------------------------------------- health, metrics


def test_health_reports_every_dependency(http: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    response = http.get("/health")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok" and body["redisConnected"] and body["dbConnected"] and body["storageConnected"], body
    assert body["buli2Reachable"] is True and body["resultsConsumer"] == "running", body
    assert body["taskDefinitionArn"].endswith("filot-backend-task:7"), body


def test_health_503_names_the_dependency_that_is_down(postgres_server: PostgresServer, s3_url: str) -> None:  # noqa: F811
    environ = api_environ(
        migrated_database(postgres_server),
        f"redis://127.0.0.1:{free_port()}/0",
        s3_url,
        f"http://127.0.0.1:{free_port()}",
        CF_R2_BUCKET_NAME="no-such-bucket",
    )
    api = RunningApi(environ).start()
    try:
        response = httpx.get(f"{api.url}/health", timeout=10)
    finally:
        api.stop()
    body = response.json()
    assert response.status_code == 503, body
    assert body["redisConnected"] is False and body["storageConnected"] is False and body["dbConnected"] is True, body
    assert body["buli2Reachable"] is False, body
    assert "redis is down" in body["error"] and "storage is down" in body["error"], body


def test_metrics_exposes_queues_statuses_and_latency(stack: Stack, http: httpx.Client) -> None:
    assert stack.upload(http).status_code == 202
    response = http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in (
        "filot_ocr_queue_length",
        "filot_ocr_processing_count",
        "filot_ocr_dead_letter_count",
        "filot_buli2_retry_queue_depth",
        'filot_documents_by_status{status="queued"}',
        'filot_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/documents",status="202"}',
    ):
        assert name in text, f"{name} missing from /metrics"
    queued = next(line for line in text.splitlines() if line.startswith("filot_ocr_queue_length "))
    assert float(queued.split()[1]) >= 1, queued


def test_start_up_line_names_the_deployment(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="filot.api"):
        RunningApi(stack.api.environ).start().stop()
    started = [r for r in caplog.records if r.getMessage() == "FiLot API started"]
    assert started, "no 'FiLot API started' line was logged"
    fields = started[0].data  # type: ignore[attr-defined]  (sandbox.jsonlog.fields)
    assert fields["taskDefinitionArn"].endswith(":7") and fields["image"] == "filot-backend:test", fields
    line = json.dumps(fields)
    assert JWT_SECRET not in line and SIGNATURE_SECRET not in line and "test-secret-key" not in line, line


# ------------------------------------------------------------------------------------ upload refusals


@pytest.mark.parametrize(
    ("case", "authorization"),
    [
        ("missing", None),
        ("not bearer", "Basic dXNlcjpwYXNz"),
        ("expired", bearer(token(ttl_s=-60))["Authorization"]),
        ("forged", bearer(token(secret=secrets.token_urlsafe(40)))["Authorization"]),
        (
            "default secret",
            bearer(token(secret="your-super-secret-jwt-key-change-this-in-production"))["Authorization"],
        ),
        (
            "alg none",
            "Bearer " + jwt.encode({"sub": "x", "role": "admin", "exp": int(time.time()) + 60}, None, algorithm="none"),
        ),
        ("no role", bearer(token(role=None))["Authorization"]),
        ("garbage", "Bearer not.a.jwt"),
    ],
)
def test_upload_without_a_valid_token_is_401(
    stack: Stack, http: httpx.Client, case: str, authorization: str | None
) -> None:
    before = stack.counts()
    headers = {"Authorization": authorization} if authorization else {}
    response = http.post(
        "/documents",
        headers=headers,
        files={"file": ("k.png", noise_image(), "image/png")},
        data={"documentType": "KTP"},
    )
    assert response.status_code == 401, f"{case}: {response.status_code} {response.text}"
    assert response.json()["error"] and response.headers["www-authenticate"].startswith("Bearer")
    assert stack.counts() == before, f"{case}: something was written"


def _truncated_jpeg() -> bytes:
    data = noise_image(fmt="JPEG")
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("case", "data", "document_type", "status", "says"),
    [
        ("empty file", b"", "KTP", 422, "empty"),
        ("PDF renamed .jpg", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n" * 20, "KTP", 415, "only PNG, JPEG"),
        ("truncated JPEG", _truncated_jpeg(), "KTP", 422, "truncated or corrupt"),
        ("1x1 image", noise_image(1, 1), "KTP", 422, "at least 32"),
        ("huge dimensions", png_claiming(60000, 60000), "KTP", 422, "limit"),
        ("over the size limit", b"\x89PNG\r\n\x1a\n" + b"\x00" * (MAX_UPLOAD + 1), "KTP", 413, "too large"),
        ("blank image", blank_image(), "KTP", 422, "blank"),
        ("SQL-like type", noise_image(), "KTP'); DROP TABLE documents;--", 422, "documentType must be"),
        ("unicode type", noise_image(), "КТП 🪪", 422, "documentType must be"),
    ],
)
def test_bad_upload_is_refused_and_writes_nothing(
    stack: Stack, http: httpx.Client, case: str, data: bytes, document_type: str, status: int, says: str
) -> None:
    before = stack.counts()
    response = stack.upload(http, data=data, document_type=document_type, filename="ktp.jpg")
    assert response.status_code == status, f"{case}: {response.status_code} {response.text}"
    assert says in response.json()["error"], f"{case}: {response.json()}"
    assert stack.counts() == before, f"{case}: something was written"
    assert stack.query("SELECT count(*) FROM pg_tables WHERE tablename = 'documents'")[0][0] == 1


@pytest.mark.parametrize(
    ("case", "data", "says"),
    [
        ("JPEG signature, garbage header", b"\xff\xd8\xff" + b"garbage" * 50, "its JPEG header is not valid"),
        ("WebP signature, garbage header", b"RIFF\x00\x00\x00\x00WEBP" + b"garbage" * 50, "its WEBP header is not valid"),
        ("PNG signature, garbage chunks", b"\x89PNG\r\n\x1a\n" + b"garbage" * 50, "its data does not decode"),
        ("truncated JPEG", _truncated_jpeg(), "its data does not decode"),
    ],
)
def test_undecodable_upload_names_what_came_never_an_object_repr(
    stack: Stack, http: httpx.Client, case: str, data: bytes, says: str
) -> None:
    files = {"file": ("scan 7.jpg", data, "image/jpeg")}
    response = http.post("/documents", headers=bearer(token()), files=files, data={"documentType": "KTP"})
    error = response.json()["error"]
    assert response.status_code == 422, f"{case}: expected 422, got {response.status_code} {error}"
    came = f"'scan 7.jpg' (sent as image/jpeg, {len(data)} bytes)"
    for part in (came, says, "expected a whole PNG, JPEG or WebP image"):
        assert part in error, f"{case}: expected the 422 message to contain {part!r}, got {error!r}"
    assert " object at 0x" not in error, f"{case}: the 422 message shows an object repr: {error!r}"


@pytest.mark.parametrize(
    ("case", "kwargs", "status"),
    [
        ("not multipart", {"json": {"file": "x", "documentType": "KTP"}}, 415),
        ("no file field", {"files": {"other": ("a.png", b"x")}, "data": {"documentType": "KTP"}}, 422),
        ("file as text", {"files": {"documentType": (None, "KTP"), "file": (None, "not a file")}}, 422),
        ("no boundary", {"content": b"--x\r\nbroken", "headers": {"Content-Type": "multipart/form-data"}}, 400),
    ],
)
def test_malformed_upload_request_is_a_clear_4xx(
    stack: Stack, http: httpx.Client, case: str, kwargs: dict[str, Any], status: int
) -> None:
    headers = {**bearer(token()), **kwargs.pop("headers", {})}
    response = http.post("/documents", headers=headers, **kwargs)
    assert response.status_code == status, f"{case}: {response.status_code} {response.text}"
    assert response.json()["error"], case


def test_rate_limit_answers_429_with_retry_after(stack: Stack, http: httpx.Client) -> None:
    sub = f"busy-{uuid.uuid4().hex[:8]}"
    codes = [stack.upload(http, sub=sub, data=b"").status_code for _ in range(RATE_LIMIT)]
    assert codes == [422] * RATE_LIMIT, codes
    response = stack.upload(http, sub=sub)
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["retry-after"]) <= 60 and "rate limit" in response.json()["error"]
    assert stack.upload(http).status_code == 202, "another client must not be limited"


def test_evaluate_is_rate_limited_per_admin_apart_from_uploads(stack: Stack, http: httpx.Client) -> None:
    sub = f"busy-admin-{uuid.uuid4().hex[:8]}"
    admin = bearer(token(sub, role="admin"))
    codes = [http.post("/verification/evaluate", json={"documentId": "not-a-uuid"}, headers=admin).status_code
             for _ in range(RATE_LIMIT)]
    assert codes == [422] * RATE_LIMIT, codes
    response = http.post("/verification/evaluate", json={"documentId": "not-a-uuid"}, headers=admin)
    assert response.status_code == 429 and "evaluate requests per minute" in response.json()["error"], response.text
    assert stack.upload(http, sub=sub, data=b"").status_code == 422, "the same client's uploads have a count of their own"


def test_cors_allows_only_configured_origins(http: httpx.Client) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    allowed = http.options("/documents", headers={"Origin": ORIGIN, **preflight})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == ORIGIN
    refused = http.options("/documents", headers={"Origin": "https://evil.example", **preflight})
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
    assert "origin" in refused.json()["error"]
    simple = http.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers
    assert http.get("/health", headers={"Origin": ORIGIN}).headers["access-control-allow-origin"] == ORIGIN


def test_unknown_route_and_bad_ids_are_json_errors(http: httpx.Client) -> None:
    assert http.get("/nope").json() == {"error": "Not Found"}
    bad = http.get("/verification/status/1' OR '1'='1")
    assert bad.status_code == 422 and "UUID" in bad.json()["error"]
    missing = http.get(f"/verification/status/{uuid.uuid4()}")
    assert missing.status_code == 404 and "no document" in missing.json()["error"]


# --------------------------------------------------------------------------------- upload and results


def test_upload_stores_object_row_and_job(stack: Stack, http: httpx.Client) -> None:
    sub = "pengguna-ñ-✓'; SELECT 1;--"
    image = noise_image(fmt="JPEG")
    response = stack.upload(http, sub=sub, data=image, document_type="NPWP", filename="kartu 🪪 ñ.png")
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued" and uuid.UUID(body["documentId"]) and uuid.UUID(body["jobId"])
    (row,) = stack.query(
        "SELECT d.document_type, d.verification_status, d.object_key, d.content_type, u.external_id"
        " FROM documents d JOIN users u ON u.id = d.user_id WHERE d.id = %s",
        (body["documentId"],),
    )
    assert row[:2] == ("NPWP", "queued") and row[3] == "image/jpeg" and row[4] == sub, row
    assert stack.s3.get_object(Bucket=BUCKET, Key=row[2])["Body"].read() == image
    jobs = [OcrJob.from_json(j) for j in stack.redis.lrange(redis_keys.OCR_QUEUE, 0, -1)]
    job = next(j for j in jobs if j.jobId == body["jobId"])
    assert (job.documentId, job.documentType, job.bucket, job.objectKey) == (body["documentId"], "NPWP", BUCKET, row[2])
    history = stack.query("SELECT status FROM document_status_history WHERE document_id = %s", (body["documentId"],))
    assert history == [("queued",)]


def test_a_job_reaches_the_queue_only_once_its_document_is_committed(stack: Stack, http: httpx.Client) -> None:
    """A worker that takes the job at once must find the document: a result for an unknown document is dropped.
    A deferred trigger makes each commit take 0.5 s, so that a job pushed before its commit is seen early."""
    seen: list[tuple[str, int]] = []
    earlier_jobs = stack.redis.lrange(redis_keys.OCR_QUEUE, 0, -1)
    stack.redis.delete(redis_keys.OCR_QUEUE)
    with psycopg.connect(stack.db_url, autocommit=True) as conn:
        conn.execute("CREATE FUNCTION test_slow_commit() RETURNS trigger LANGUAGE plpgsql"
                     " AS $$ BEGIN PERFORM pg_sleep(0.5); RETURN NULL; END $$")
        conn.execute("CREATE CONSTRAINT TRIGGER test_slow_commit AFTER INSERT ON documents"
                     " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_slow_commit()")

    def take_at_once() -> None:  # plays the fastest worker: looks the document up the moment the job is there
        for _ in range(3):
            popped = stack.redis.brpop([redis_keys.OCR_QUEUE], timeout=DEADLINE_S)
            if popped is None:
                return
            document_id = json.loads(popped[1])["documentId"]
            seen.append((document_id, stack.query("SELECT count(*) FROM documents WHERE id = %s", (document_id,))[0][0]))

    worker = threading.Thread(target=take_at_once)
    worker.start()
    try:
        for _ in range(3):
            answer = stack.upload(http)
            assert answer.status_code == 202, f"POST /documents: expected 202, got {answer.status_code}: {answer.text[:200]}"
    finally:
        worker.join(DEADLINE_S)
        with psycopg.connect(stack.db_url, autocommit=True) as conn:
            conn.execute("DROP TRIGGER test_slow_commit ON documents")
            conn.execute("DROP FUNCTION test_slow_commit()")
        if earlier_jobs:
            stack.redis.rpush(redis_keys.OCR_QUEUE, *earlier_jobs)
    assert [rows for _, rows in seen] == [1, 1, 1], f"documents not yet committed when their job was taken: {seen}"


def test_failure_in_the_middle_leaves_nothing_behind(stack: Stack, http: httpx.Client) -> None:
    """The queue key holds a string, so LPUSH fails after the object and the row were written."""
    saved = stack.redis.lrange(redis_keys.OCR_QUEUE, 0, -1)
    stack.redis.set(redis_keys.OCR_QUEUE, "not a list")
    try:
        before = stack.rows_and_objects()
        response = stack.upload(http)
        after = stack.rows_and_objects()
    finally:
        stack.redis.delete(redis_keys.OCR_QUEUE)
        if saved:
            stack.redis.rpush(redis_keys.OCR_QUEUE, *saved)
    assert response.status_code == 503 and "nothing was stored" in response.json()["error"], response.text
    assert after == before, f"orphans left: (rows, objects) {before} -> {after}"


def test_claim_moves_document_to_processing(stack: Stack, http: httpx.Client) -> None:
    body = stack.upload(http).json()
    claimed_at = datetime.now(UTC) + timedelta(seconds=2)
    claim = {"workerId": "test-worker", "claimedAt": claimed_at.isoformat()}
    stack.redis.hset(redis_keys.OCR_CLAIMS, body["jobId"], json.dumps(claim))
    try:
        status = stack.wait_status(http, body["documentId"], "processing")
    finally:
        stack.redis.hdel(redis_keys.OCR_CLAIMS, body["jobId"])
    assert datetime.fromisoformat(status["timestamps"]["processing"]) == claimed_at, status


@pytest.mark.parametrize(("confidence", "final"), [(0.95, "auto_approved"), (0.2, "auto_rejected")])
def test_result_is_scored_and_recorded(stack: Stack, http: httpx.Client, confidence: float, final: str) -> None:
    body = stack.upload(http).json()
    stack.finish_job(body["jobId"], confidence)
    status = stack.wait_status(http, body["documentId"], final)
    assert status["score"] == pytest.approx(confidence * 100) and status["decision"] == final, status
    assert status["engine"] == "stand-in" and status["device"] == "cpu" and status["reasons"], status
    assert [h["status"] for h in status["history"]] == ["queued", "processing", final], status
    (row,) = stack.query(
        "SELECT score, decision, fields->>'nik', engine, device, worker_id, approve_threshold"
        " FROM verification_results WHERE document_id = %s",
        (body["documentId"],),
    )
    assert row[1:] == (final, "3171012501900003", "stand-in", "cpu", "test-worker", 85), row
    assert not stack.redis.hexists(redis_keys.OCR_RESULTS_STORE, body["jobId"]), "applied result left in the store"


def test_failed_ocr_result_fails_the_document(stack: Stack, http: httpx.Client) -> None:
    body = stack.upload(http).json()
    stack.finish_job(body["jobId"], 0.0, status="failed")
    status = stack.wait_status(http, body["documentId"], "failed")
    assert status["error"] == "no card found in the image" and status["score"] is None, status


def test_result_applied_twice_changes_nothing(stack: Stack, http: httpx.Client) -> None:
    body = stack.upload(http).json()
    result = stack.finish_job(body["jobId"], 0.9)
    stack.wait_status(http, body["documentId"], "auto_approved")
    stack.redis.publish(redis_keys.OCR_RESULTS_CHANNEL, result.model_copy(update={"confidence": 0.1}).to_json())
    marker = stack.upload(http).json()  # a later result, applied after the duplicate (one consumer, in order)
    stack.finish_job(marker["jobId"], 0.9)
    stack.wait_status(http, marker["documentId"], "auto_approved")
    rows = stack.query("SELECT decision FROM verification_results WHERE document_id = %s", (body["documentId"],))
    assert rows == [("auto_approved",)], rows


def test_results_published_while_down_are_reconciled_on_start(
    postgres_server: PostgresServer,  # noqa: F811 (the fixture imported above)
    s3_url: str,
) -> None:
    own_redis = start_redis()
    try:
        environ = api_environ(
            migrated_database(postgres_server), own_redis.url, s3_url, f"http://127.0.0.1:{free_port()}"
        )
        api = RunningApi(environ).start()
        with own_redis.client() as client, s3_client(s3_url) as s3:
            stack = Stack(api, environ["DATABASE_URL"], client, s3, Buli2Stub(0))
            with stack.client() as http:
                documents = [stack.upload(http).json() for _ in range(2)]
                api.stop()
                for doc, confidence in zip(documents, (0.9, 0.1), strict=True):
                    stack.finish_job(doc["jobId"], confidence)  # published to nobody, kept in the store
                stack.api = RunningApi(environ, port=api.port).start()
                try:
                    stack.wait_status(http, documents[0]["documentId"], "auto_approved")
                    stack.wait_status(http, documents[1]["documentId"], "auto_rejected")
                finally:
                    stack.api.stop()
            assert client.hlen(redis_keys.OCR_RESULTS_STORE) == 0
    finally:
        own_redis.stop()


def test_a_document_committed_without_its_job_gets_the_job_again(
    postgres_server: PostgresServer,  # noqa: F811 (the fixture imported above)
    s3_url: str,
) -> None:
    """A task that dies between the row's COMMIT and the LPUSH leaves a queued document and no job: the
    look for lost jobs pushes it again, the same job, once; a job a worker holds is left alone."""
    own_redis = start_redis()
    try:
        environ = api_environ(migrated_database(postgres_server), own_redis.url, s3_url, f"http://127.0.0.1:{free_port()}",
                              REQUEUE_AFTER_S="0.5", RESULTS_SWEEP_INTERVAL_S="0.2")
        api = RunningApi(environ).start()
        with own_redis.client() as client, s3_client(s3_url) as s3:
            stack = Stack(api, environ["DATABASE_URL"], client, s3, Buli2Stub(0))
            with stack.client() as http:
                lost, held = stack.upload(http).json(), stack.upload(http).json()
                jobs = {OcrJob.from_json(raw).jobId: raw for raw in client.lrange(redis_keys.OCR_QUEUE, 0, -1)}
                client.delete(redis_keys.OCR_QUEUE)  # the push that never happened
                client.lpush(redis_keys.OCR_PROCESSING, jobs[held["jobId"]])  # taken by a worker, not yet claimed

                def requeued() -> list[OcrJob]:
                    found = [OcrJob.from_json(raw) for raw in client.lrange(redis_keys.OCR_QUEUE, 0, -1)]
                    if not found:
                        raise NotReady("the queue is empty")
                    return found

                wait_for(requeued, "the lost job back on the queue", DEADLINE_S)
                time.sleep(1.0)  # sleep-ok: five more looks, which must push nothing more
                again = [OcrJob.from_json(raw) for raw in client.lrange(redis_keys.OCR_QUEUE, 0, -1)]
            api.stop()
        original = OcrJob.from_json(jobs[lost["jobId"]])
        assert [j.jobId for j in again] == [lost["jobId"]], f"queue after the looks: {again}"
        assert again[0].model_dump(exclude={"enqueuedAt"}) == original.model_dump(exclude={"enqueuedAt"}), again[0]
    finally:
        own_redis.stop()


# ------------------------------------------------------------------------------ manual review, BULI2


def _to_manual_review(stack: Stack, http: httpx.Client) -> tuple[dict[str, Any], str]:
    body = stack.upload(http).json()
    stack.finish_job(body["jobId"], 0.6)
    status = stack.wait_status(http, body["documentId"], "manual_review")
    return body, status["review"]["reviewRequestId"]


def _wait_review_state(stack: Stack, review_request_id: str, wanted: str) -> tuple[Any, ...]:
    def reached() -> tuple[Any, ...]:
        (row,) = stack.query(
            "SELECT state, attempts, buli2_review_id, last_error FROM manual_reviews WHERE review_request_id = %s",
            (review_request_id,),
        )
        if row[0] != wanted:
            raise NotReady(f"review state {row}")
        return row

    return wait_for(reached, f"review {review_request_id} to be {wanted}", DEADLINE_S)


def _signed(
    body: dict[str, Any], secret: str = SIGNATURE_SECRET, at: float | None = None
) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    timestamp = str(int(time.time() if at is None else at))
    return raw, {
        buli2.TIMESTAMP_HEADER: timestamp,
        buli2.SIGNATURE_HEADER: buli2.sign(secret, timestamp, raw),
        buli2.CALLBACK_ID_HEADER: body["callbackId"],
        "Content-Type": "application/json",
    }


def test_manual_review_is_escalated_and_settled_by_a_signed_callback(stack: Stack, http: httpx.Client) -> None:
    body, review_request_id = _to_manual_review(stack, http)
    _, _, review_id, _ = _wait_review_state(stack, review_request_id, "escalated")
    (delivery,) = stack.buli2.deliveries(review_request_id)
    assert delivery["auth"] == "Bearer buli2-test-key", delivery
    sent = delivery["body"]
    assert sent["documentId"] == body["documentId"] and sent["score"] == pytest.approx(60.0), sent
    assert sent["callbackUrl"].endswith("/internal/reviews") and sent["fields"]["nik"] and sent["reasons"], sent

    callback = {
        "callbackId": f"cb-{uuid.uuid4()}",
        "reviewId": review_id,
        "documentId": body["documentId"],
        "decision": "approved",
        "reviewer": "reviewer@buli2",
        "decidedAt": "2026-11-23T10:00:00Z",
    }
    raw, headers = _signed(callback)
    forged = http.post(
        "/internal/reviews", content=raw, headers={**headers, buli2.SIGNATURE_HEADER: "sha256=" + "0" * 64}
    )
    assert forged.status_code == 401, forged.text
    tampered = http.post("/internal/reviews", content=raw.replace(b"approved", b"rejected"), headers=headers)
    assert tampered.status_code == 401, tampered.text
    stale_raw, stale_headers = _signed(callback, at=time.time() - buli2.MAX_SKEW_S - 60)
    stale = http.post("/internal/reviews", content=stale_raw, headers=stale_headers)
    assert stale.status_code == 400 and "stale" in stale.json()["error"], stale.text
    bad_raw, bad_headers = _signed({**callback, "decision": "maybe"})
    assert http.post("/internal/reviews", content=bad_raw, headers=bad_headers).status_code == 400
    assert stack.wait_status(http, body["documentId"], "manual_review"), "a refused callback changed the document"

    accepted = http.post("/internal/reviews", content=raw, headers=headers)
    assert accepted.status_code == 200 and accepted.json()["status"] == "approved", accepted.text
    replay = http.post("/internal/reviews", content=raw, headers=headers)
    assert replay.status_code == 409 and "already accepted" in replay.json()["error"], replay.text
    status = stack.wait_status(http, body["documentId"], "approved")
    assert status["review"]["state"] == "approved" and status["review"]["reviewer"] == "reviewer@buli2", status
    assert [h["status"] for h in status["history"]][-2:] == ["manual_review", "approved"], status


def test_relaxed_callback_policy_passes_what_production_refuses() -> None:
    """The knobs a staging FiLot may turn (and the gate's e2e checks catch in a deployment)."""
    callback = {"callbackId": "cb-policy", "reviewId": "rv-1", "documentId": str(uuid.uuid4()),
                "decision": "approved", "reviewer": "r", "decidedAt": "2026-11-23T10:00:00Z"}
    raw, headers = _signed(callback, at=time.time() - buli2.MAX_SKEW_S - 60)
    stale = {k.lower(): v for k, v in headers.items()}
    forged = {**{k.lower(): v for k, v in _signed(callback)[1].items()}, buli2.SIGNATURE_HEADER.lower(): "sha256=" + "0" * 64}
    for headers_sent, status in ((forged, 401), (stale, 400)):
        with pytest.raises(ApiError) as refused:
            callbacks.verify(SIGNATURE_SECRET, headers_sent, raw)
        assert refused.value.status == status, f"callbacks.verify: expected {status}, got {refused.value.status} ({refused.value})"
    unchecked = callbacks.CallbackPolicy(verify_signatures=False)
    assert callbacks.verify(SIGNATURE_SECRET, forged, _signed(callback)[0], policy=unchecked).callbackId == "cb-policy"
    lenient = callbacks.CallbackPolicy(max_skew_s=buli2.MAX_SKEW_S * 10)
    assert callbacks.verify(SIGNATURE_SECRET, stale, raw, policy=lenient).callbackId == "cb-policy"


def test_development_mode_accepts_a_weak_jwt_secret_and_says_so() -> None:
    environ = api_environ("postgresql://127.0.0.1:1/db", "redis://127.0.0.1:1/0", "http://127.0.0.1:1",
                          "http://127.0.0.1:1", NODE_ENV="development", JWT_SECRET="changeme",
                          BULI2_VERIFY_SIGNATURES="false", BULI2_CALLBACK_REPLAY_TTL_S="0")
    named = [line.split(":")[0] for line in load_settings(environ).relaxed_checks()]
    expected = ["JWT_SECRET", "BULI2_VERIFY_SIGNATURES=false", "BULI2_CALLBACK_REPLAY_TTL_S=0"]
    assert named == expected, f"relaxed checks named in the start-up warning: expected {expected}, got {named}"
    strict = load_settings(api_environ("postgresql://127.0.0.1:1/db", "redis://127.0.0.1:1/0",
                                       "http://127.0.0.1:1", "http://127.0.0.1:1")).relaxed_checks()
    assert strict == [], f"the default configuration relaxes nothing, got {strict}"


@pytest.mark.parametrize("stamp", ["nan", "inf", "-inf", "1e9", "-5"])
def test_callback_with_a_non_numeric_timestamp_is_400_naming_it(http: httpx.Client, stamp: str) -> None:
    """Signed correctly, so only the timestamp check can refuse it (``float()`` took nan and inf)."""
    raw = json.dumps({"callbackId": f"cb-{uuid.uuid4()}"}).encode()
    headers = {buli2.TIMESTAMP_HEADER: stamp, buli2.SIGNATURE_HEADER: buli2.sign(SIGNATURE_SECRET, stamp, raw),
               "Content-Type": "application/json"}
    response = http.post("/internal/reviews", content=raw, headers=headers)
    expected = f"{buli2.TIMESTAMP_HEADER}: expected a Unix timestamp in seconds, got {stamp!r}"
    assert (response.status_code, response.json()["error"]) == (400, expected), \
        f"POST /internal/reviews with timestamp {stamp!r}: expected 400 {expected!r}, got {response.status_code} {response.text}"


def test_callback_for_unknown_review_is_404_and_not_remembered(stack: Stack, http: httpx.Client) -> None:
    callback = {
        "callbackId": f"cb-{uuid.uuid4()}",
        "reviewId": "rv-unknown",
        "documentId": str(uuid.uuid4()),
        "decision": "rejected",
        "reviewer": "r",
        "decidedAt": "2026-11-23T10:00:00Z",
    }
    raw, headers = _signed(callback)
    assert http.post("/internal/reviews", content=raw, headers=headers).status_code == 404
    assert http.post("/internal/reviews", content=raw, headers=headers).status_code == 404, "404 must not mark it seen"


def test_buli2_down_or_5xx_goes_to_retry_queue_and_is_delivered_once(stack: Stack, http: httpx.Client) -> None:
    stack.buli2.stop()
    try:
        _, review_request_id = _to_manual_review(stack, http)

        def scheduled() -> None:
            members = stack.redis.zrange(redis_keys.BULI2_RETRY_QUEUE, 0, -1)
            if not any(json.loads(m)["reviewRequestId"] == review_request_id for m in members):
                raise NotReady(f"retry queue {members}")

        wait_for(scheduled, "the escalation to enter the retry queue", DEADLINE_S)

        def depth_reported() -> None:  # between two attempts the entry is in the queue
            if "filot_buli2_retry_queue_depth 1.0" not in http.get("/metrics").text:
                raise NotReady("retry depth not 1 in /metrics")

        wait_for(depth_reported, "/metrics to report the retry queue depth", DEADLINE_S)
    finally:
        stack.buli2.script = [503]  # back up, but the first answer is a 5xx
        stack.buli2.start()
    _, attempts, review_id, _ = _wait_review_state(stack, review_request_id, "escalated")
    deliveries = stack.buli2.deliveries(review_request_id)
    assert [d["status"] for d in deliveries] == [503, 201], deliveries
    assert attempts >= 3 and review_id == f"rv-{review_request_id}", (attempts, review_id)
    assert stack.redis.zcard(redis_keys.BULI2_RETRY_QUEUE) == 0, "a delivered escalation is still scheduled"
    # A stale schedule entry (e.g. left by a crash) must not send it again.
    stack.redis.zadd(
        redis_keys.BULI2_RETRY_QUEUE, {json.dumps({"reviewRequestId": review_request_id, "attempt": 9}): 0}
    )

    def taken() -> None:
        if stack.redis.zcard(redis_keys.BULI2_RETRY_QUEUE):
            raise NotReady("stale entry still scheduled")

    wait_for(taken, "the stale entry to be taken", DEADLINE_S)
    assert len(stack.buli2.deliveries(review_request_id)) == 2, "escalation sent again after a success"


def test_a_pending_review_that_lost_its_schedule_is_escalated_without_a_restart(stack: Stack, http: httpx.Client) -> None:
    """A first attempt that could not run (Redis or the database blinked) leaves a pending row and no
    schedule entry: the retry loop's periodic sweep (once per BULI2_RETRY_MAX_S) must find it."""
    stack.buli2.stop()
    try:
        _, review_request_id = _to_manual_review(stack, http)

        def forgotten() -> None:  # taken out by us, not by the loop: no attempt of it is in flight
            members = [m for m in stack.redis.zrange(redis_keys.BULI2_RETRY_QUEUE, 0, -1)
                       if json.loads(m)["reviewRequestId"] == review_request_id]
            if not (members and stack.redis.zrem(redis_keys.BULI2_RETRY_QUEUE, *members)):
                raise NotReady(f"retry queue {members}")

        wait_for(forgotten, "the escalation's schedule entry, to drop it", DEADLINE_S)
    finally:
        stack.buli2.start()
    state, _, review_id, _ = _wait_review_state(stack, review_request_id, "escalated")
    assert review_id == f"rv-{review_request_id}", (state, review_id)


def test_backoff_delay_stays_at_the_cap_however_many_attempts() -> None:
    escalator = Escalator(None, None, None, base_delay_s=2.0, max_delay_s=300.0)  # type: ignore[arg-type]
    delays = [escalator.delay(attempt) for attempt in (1, 2, 9, 1025, 10**6)]
    assert delays == [2.0, 4.0, 300.0, 300.0, 300.0], f"BULI2 retry delays: expected 2, 4 then the 300 s cap, got {delays}"


# ----------------------------------------------------------------------------------------- evaluate


def test_evaluate_needs_admin_and_rescores(stack: Stack, http: httpx.Client) -> None:
    body = stack.upload(http).json()
    stack.finish_job(body["jobId"], 0.9)
    stack.wait_status(http, body["documentId"], "auto_approved")
    payload = {"documentId": body["documentId"]}
    assert http.post("/verification/evaluate", json=payload).status_code == 401
    assert http.post("/verification/evaluate", json=payload, headers=bearer(token(role="user"))).status_code == 403
    admin = bearer(token(role="admin"))  # a subject of its own: evaluate is rate limited per admin
    response = http.post("/verification/evaluate", json=payload, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["score"] == pytest.approx(90.0) and response.json()["statusChanged"] is False
    unknown = http.post("/verification/evaluate", json={"documentId": str(uuid.uuid4())}, headers=admin)
    assert unknown.status_code == 404, unknown.text
    pending = stack.upload(http).json()
    not_yet = http.post("/verification/evaluate", json={"documentId": pending["documentId"]}, headers=admin)
    assert not_yet.status_code == 409 and "no OCR result" in not_yet.json()["error"], not_yet.text
    assert http.post("/verification/evaluate", json={"documentId": "x'--"}, headers=admin).status_code == 422


def temporal_environ(environ: dict[str, str], server: TemporalServer, namespace: str | None = None) -> dict[str, str]:
    """``environ`` with Temporal on, against the selftest's dev server, on a task queue of its own."""
    return {**environ, "TEMPORAL_DISABLED": "false", "TEMPORAL_ENDPOINT": server.endpoint, "TEMPORAL_TLS": "false",
            "TEMPORAL_NAMESPACE": namespace or server.namespace, "TEMPORAL_API_KEY": secrets.token_urlsafe(40),
            "TEMPORAL_TASK_QUEUE": f"selftest-{uuid.uuid4().hex[:8]}"}


def test_evaluate_starts_a_workflow_that_rescores_where_temporal_is_used(stack: Stack, temporal_server: TemporalServer) -> None:
    api = RunningApi(temporal_environ(stack.api.environ, temporal_server)).start()
    try:
        with httpx.Client(base_url=api.url, timeout=10) as http:
            body = stack.upload(http).json()
            stack.finish_job(body["jobId"], 0.9)
            stack.wait_status(http, body["documentId"], "auto_approved")
            admin = bearer(token(role="admin"))  # a subject of its own: evaluate is rate limited per admin
            started = http.post("/verification/evaluate", json={"documentId": body["documentId"]}, headers=admin)
            unknown = http.post("/verification/evaluate", json={"documentId": str(uuid.uuid4())}, headers=admin)
        assert started.status_code == 202 and started.json()["workflowId"].startswith("document-verification-"), started.text
        connection = TemporalConnection(temporal_server.endpoint, temporal_server.namespace, tls=False)
        run = follow_run(connection, started.json()["workflowId"], started.json()["runId"], deadline_s=DEADLINE_S)

        def status_shows_the_run() -> dict[str, Any]:
            shown = httpx.get(f"{api.url}/verification/status/{body['documentId']}", timeout=10).json()["workflow"]
            if not shown or shown["status"] != "COMPLETED":
                raise NotReady(f"workflow shown: {shown}")
            return shown

        shown = wait_for(status_shows_the_run, "the status route to show the completed run", DEADLINE_S)
    finally:
        api.stop()
    assert (shown["workflowId"], shown["runId"]) == (run.workflow_id, run.run_id), shown
    assert unknown.status_code == 404, unknown.text
    assert run.status == "COMPLETED" and run.activities == [temporal.EVALUATE_ACTIVITY], run.explain()
    assert run.result["status"] == "auto_approved" and run.result["score"] == pytest.approx(90.0), run.result
    scores = stack.query("SELECT count(*) FROM verification_results WHERE document_id = %s AND source = 'evaluate'",
                         (body["documentId"],))
    assert scores == [(1,)], f"the workflow's evaluation must be stored once, got {scores}"


def test_the_api_exits_at_start_up_on_a_namespace_temporal_does_not_know(temporal_server: TemporalServer) -> None:
    environ = api_environ("postgresql://127.0.0.1:1/db", "redis://127.0.0.1:1/0", "http://127.0.0.1:1", "http://127.0.0.1:1")
    done = subprocess.run([sys.executable, "-m", "sandbox.api"], env=temporal_environ(environ, temporal_server, "nope"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert "cannot start: TEMPORAL_ENDPOINT" in done.stdout and "Namespace nope is not found" in done.stdout, done.stdout


def test_known_defaults_cover_the_secrets_manifest() -> None:
    """One list of placeholder secrets: the manifest's may not name one the API would accept."""
    manifest = json.loads((Path(__file__).resolve().parent.parent / "production_secrets_required.json").read_text())
    missing = {d.strip().lower() for d in manifest.get("knownDefaults", [])} - KNOWN_DEFAULT_SECRETS
    assert not missing, f"add to filot_contract.secrets.KNOWN_DEFAULT_SECRETS: {sorted(missing)}"
