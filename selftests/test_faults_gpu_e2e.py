"""Every gpu and e2e check can fail: for each gate test, break the matching thing in one private
sandbox, run the gate narrowed to that test (``-m <gate> -k <test>``), and see exactly that test fail
with its message and the verdict no-go; then heal. Also: ``-n 2`` gives the same verdict as a serial run.

A fault is a ``python -m sandbox fault NAME``, or an operator-like change made here: an ECS attribute
or desired count, a backend or worker revision deployed with ``python -m sandbox deploy --set``, a
secret rotated without a redeploy, a database constraint, or a profile that requires CUDA.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager, Iterator

import psycopg
import pytest
from redis import Redis

from filot_contract import aws_names, redis_keys
from filot_gate.polling import poll_until
from selftests.sandbox_fixture import REPO, PrivateSandbox, start_private_sandbox, stop_private_sandbox

pytestmark = pytest.mark.sandbox

#: The origins the sandbox's profile expects the API to allow (its manifest's CORS_ALLOWED_ORIGINS).
ALLOWED_ORIGINS = tomllib.loads((REPO / "profiles" / "local.toml").read_text())["e2e"]["cors_allowed_origins"]
#: Short deadlines, so that a fault which stops a job costs seconds; long enough for a healthy sandbox.
DEADLINES = {"job_s": 10, "escalation_s": 5, "logs_s": 15, "stable_s": 120, "audit_event_s": 10}
SETTLE_S = 60
#: The backend settings of a staging FiLot that relax the checks seed 002 section 6 requires.
STAGING_SETTINGS = ("NODE_ENV=development", "BULI2_VERIFY_SIGNATURES=false", "BULI2_CALLBACK_MAX_SKEW_S=86400",
                    "BULI2_CALLBACK_REPLAY_TTL_S=0")
#: How long the BULI2 simulator may take to settle a review with its own callback (it takes 0.5 s).
BULI2_CALLBACK_S = 5
#: The worker process imports its engine from here (the sandbox runs tasks from the repository root).
MISREADING_ENGINE = "selftests.test_faults_gpu_e2e:misreading_engine"


def misreading_engine(device: str):
    """``OCR_ENGINE`` of the fault "worker-misreads-names": Tesseract, with every name read back to front."""
    from sandbox.worker.engines import load_recognizer

    inner = load_recognizer("tesseract", device)

    class Misreading:
        engine, device = inner.engine, inner.device

        def recognize(self, document_type: str, image_bytes: bytes):
            recognition = inner.recognize(document_type, image_bytes)
            if "nama" in recognition.fields:
                recognition.fields["nama"] = recognition.fields["nama"][::-1]
            return recognition

    return Misreading()


# --- the sandbox and its clients ------------------------------------------------------------------


@dataclass
class Box:
    sandbox: PrivateSandbox
    profiles: dict[str, Path] = field(default_factory=dict)

    def aws(self, service: str):
        return self.sandbox.aws(service)

    def redis(self) -> Redis:
        return self.sandbox.redis()

    def secret(self, name: str) -> str:
        return self.aws("secretsmanager").get_secret_value(SecretId=f"filot/production/{name}")["SecretString"]

    def cli(self, *args: str) -> None:
        """``python -m sandbox ...``; deploys join the sandbox's deploy run, so the record keeps both services."""
        record = json.loads((self.sandbox.home / "deploy-record.json").read_text())
        result = subprocess.run([sys.executable, "-m", "sandbox", *args], cwd=REPO, capture_output=True, text=True,
                                env={**self.sandbox.env, "FILOT_DEPLOY_RUN_ID": record["runId"]}, timeout=300)
        assert result.returncode == 0, f"python -m sandbox {' '.join(args)}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"

    def deploy(self, service: str, *settings: str) -> None:
        """A revision of the manifest with ``settings`` (KEY=VALUE) changed; none: the manifest's own."""
        self.cli("deploy", "--service", service, *(arg for s in settings for arg in ("--set", s)))

    def workers_alive(self) -> int:
        return sum(1 for _ in self.redis().scan_iter(redis_keys.WORKER_HEARTBEAT_PATTERN))


# --- faults: each a context manager that breaks one thing and heals it on exit ----------------------


@contextmanager
def named_fault(box: Box, name: str) -> Iterator[None]:
    box.cli("fault", name)
    try:
        yield
    finally:
        box.cli("heal", name)


@contextmanager
def deployed(box: Box, service: str, *settings: str) -> Iterator[None]:
    """A wrong revision of a service; healed by deploying the manifest's revision again."""
    box.deploy(service, *settings)
    try:
        yield
    finally:
        box.deploy(service)


@contextmanager
def instance_type(box: Box, value: str) -> Iterator[None]:
    ecs = box.aws("ecs")
    arn = ecs.list_container_instances(cluster=aws_names.GPU_CLUSTER)["containerInstanceArns"][0]

    def put(kind: str) -> None:
        ecs.put_attributes(cluster=aws_names.GPU_CLUSTER, attributes=[
            {"name": "ecs.instance-type", "value": kind, "targetType": "container-instance", "targetId": arn.rsplit("/", 1)[-1]}])

    put(value)
    try:
        yield
    finally:
        put("g5.xlarge")


@contextmanager
def worker_scaled_to_zero(box: Box) -> Iterator[None]:
    ecs = box.aws("ecs")
    ecs.update_service(cluster=aws_names.GPU_CLUSTER, service=aws_names.GPU_SERVICE, desiredCount=0)
    try:
        gone = poll_until(box.workers_alive, lambda n: n == 0, deadline_s=SETTLE_S, awaited="the worker's heartbeat to go")
        assert gone == 0, f"a worker heartbeat is still there {SETTLE_S}s after scaling to zero"
        yield
    finally:
        ecs.update_service(cluster=aws_names.GPU_CLUSTER, service=aws_names.GPU_SERVICE, desiredCount=1)
        poll_until(box.workers_alive, lambda n: n > 0, deadline_s=SETTLE_S, awaited="a worker heartbeat again")


@contextmanager
def rotated_signature_secret(box: Box) -> Iterator[None]:
    """BULI2_SIGNATURE_SECRET changed in Secrets Manager, the API not redeployed (it keeps the old one)."""
    secrets = box.aws("secretsmanager")
    before = box.secret("buli2")
    rotated = {**json.loads(before), "BULI2_SIGNATURE_SECRET": "rotated-" + "x1y2z3" * 8}
    secrets.put_secret_value(SecretId="filot/production/buli2", SecretString=json.dumps(rotated))
    try:
        yield
    finally:
        secrets.put_secret_value(SecretId="filot/production/buli2", SecretString=before)


@contextmanager
def scores_refused_by_the_database(box: Box) -> Iterator[None]:
    """A bad migration: verification_results refuses scores of 50 and above."""
    with psycopg.connect(box.secret("database-url"), autocommit=True) as conn:
        conn.execute("ALTER TABLE verification_results ADD CONSTRAINT filot_selftest_fault CHECK (score < 50) NOT VALID")
        try:
            yield
        finally:
            conn.execute("ALTER TABLE verification_results DROP CONSTRAINT filot_selftest_fault")


@contextmanager
def nothing(box: Box) -> Iterator[None]:
    yield


@contextmanager
def staging_configuration(box: Box) -> Iterator[None]:
    """A staging backend configuration shipped to production: NODE_ENV=development, a default JWT secret
    in Secrets Manager (the new tasks start with it), BULI2 callbacks checked loosely. The secret is put
    back before the manifest's revision is redeployed, so that its tasks start with the real one."""
    box.cli("fault", "default-jwt-secret")
    try:
        box.deploy("backend", *STAGING_SETTINGS)
        yield
    finally:
        try:
            box.cli("heal", "default-jwt-secret")
        finally:
            box.deploy("backend")


# --- the cases ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One gate test that must fail under the fault, and text its message must contain."""

    gate: str
    test: str  # the test's node id relative to tests/<gate>/
    message: str

    @property
    def keyword(self) -> str:
        name, _, param = self.test.partition("::")[2].partition("[")
        return f"{name} and {param.rstrip(']')}" if param else name


@dataclass(frozen=True)
class Fault:
    name: str
    inject: Callable[[Box], ContextManager[None]]
    checks: tuple[Check, ...]
    profile: str = "base"


def named(name: str, *checks: Check) -> Fault:
    """A ``python -m sandbox fault NAME``, healed with ``heal NAME``."""
    return Fault(name, lambda box: named_fault(box, name), checks)


FAULTS = [
    # gpu
    Fault("worker-not-on-g5", lambda box: instance_type(box, "m5.xlarge"), (
        Check("gpu", "test_placement.py::test_worker_tasks_run_on_a_g5_instance_with_a_gpu", "of type m5.xlarge"),)),
    Fault("worker-on-cpu-when-gpu-required", nothing, (
        Check("gpu", "test_device_log.py::test_worker_log_shows_the_gpu_or_the_allowed_cpu_fallback",
              "requires CUDA ([gpu] require_cuda = true)"),
        Check("gpu", "test_sample_job.py::test_sample_job_comes_back_from_the_required_device", "requires CUDA (cuda:N)"),
    ), profile="cuda"),
    named("worker-not-polling",
          Check("gpu", "test_worker.py::test_worker_heartbeat_is_fresh_and_it_polls_the_queue", "OCR worker heartbeat")),
    Fault("worker-scaled-to-zero", worker_scaled_to_zero, (
        Check("gpu", "test_worker.py::test_worker_heartbeat_is_fresh_and_it_polls_the_queue", "OCR worker heartbeat"),
        Check("gpu", "test_sample_job.py::test_sample_job_comes_back_from_the_required_device", "stuck after stage queued"),
        Check("e2e", "test_ktp_flow.py::test_worker_consumes_the_job_and_publishes_its_result", "stuck after stage queued"),
    )),
    Fault("worker-misreads-names", lambda box: deployed(box, "ocr-gpu", f"OCR_ENGINE={MISREADING_ENGINE}"), (
        Check("gpu", "test_sample_job.py::test_sample_job_fields_equal_the_ground_truth", "fields differ from the ground truth"),
        Check("e2e", "test_ktp_flow.py::test_parsed_fields_match_the_ground_truth", "differ from the ground truth"),
        Check("e2e", "test_npwp.py::test_npwp_fields_match_the_ground_truth", "differ from the ground truth"),
    )),
    # e2e: the seed 000 smoke steps
    named("api-unhealthy", Check("e2e", "test_health.py::test_health_reports_ok_with_redis_and_db_connected", "GET /health")),
    Fault("backend-upload-limit-2kb", lambda box: deployed(box, "backend", "MAX_UPLOAD_BYTES=2048"), (
        Check("e2e", "test_ktp_flow.py::test_upload_returns_a_document_id", "expected 202, got 413"),
        Check("e2e", "test_input_validation.py::test_bad_upload_is_refused_with_a_clear_4xx[pdf-renamed]", "expected 415, got 413"),
        Check("e2e", "test_input_validation.py::test_bad_upload_is_refused_with_a_clear_4xx[truncated]", "expected 422, got 413"),
        Check("e2e", "test_input_validation.py::test_bad_upload_is_refused_with_a_clear_4xx[blank]", "expected 422, got 413"),
    )),
    named("redis-keyspace-events-off", Check("e2e", "test_ktp_flow.py::test_job_is_seen_on_the_gpu_queue", "saw neither")),
    Fault("scores-refused-by-the-database", scores_refused_by_the_database, (
        Check("e2e", "test_ktp_flow.py::test_backend_scores_the_result_and_records_the_status", "the backend failed the document"),
        Check("e2e", "test_npwp.py::test_npwp_upload_is_scored_and_approved", "the backend failed the document"),
    )),
    # one backend revision with two configuration drifts (one deploy instead of two: the module's time)
    Fault("backend-thresholds-50-10-and-temporal-on", lambda box: deployed(
        box, "backend", "AI_SCORE_THRESHOLD_AUTO_APPROVE=50", "AI_SCORE_THRESHOLD_AUTO_REJECT=10", "TEMPORAL_DISABLED=false"), (
        Check("e2e", "test_decision_paths.py::test_invalid_ktp_is_auto_rejected", "expected auto_rejected, got"),
        Check("e2e", "test_buli2_review.py::test_degraded_ktp_is_routed_to_manual_review", "expected decision manual_review, got auto_approved"),
        Check("e2e", "test_temporal.py::test_temporal_workflows_show_correct_transitions", "Temporal in use"),
    )),
    named("buli2-down",
          Check("e2e", "test_buli2_review.py::test_manual_review_is_escalated_to_buli2_and_accepted", "expected BULI2 to accept the escalation")),
    named("buli2-bad-signature",
          Check("e2e", "test_buli2_review.py::test_buli2s_own_signed_callback_settles_the_review", "expected BULI2's own signed callback")),
    Fault("buli2-secret-rotated-without-redeploy", rotated_signature_secret, (
        Check("e2e", "test_buli2_review.py::test_signed_callback_settles_the_document", "expected 200, got 401"),)),
    # e2e: seed 002 section 6
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
        Check("e2e", "test_rate_limit.py::test_rate_limit_answers_429_with_retry_after", "expected 429 within"),
        Check("e2e", "test_cors.py::test_cors_does_not_allow_an_unlisted_origin", "expected no Access-Control-Allow-Origin"),
        Check("e2e", "test_cors.py::test_cors_preflight_echoes_each_allowed_origin", "echoing it"),
    )),
]


# --- fixtures and the gate run ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def box(tmp_path_factory) -> Iterator[Box]:
    sandbox = start_private_sandbox()
    try:
        box = Box(sandbox)
        base = sandbox.profile(tmp_path_factory.mktemp("profiles") / "base.toml").read_text()
        base = re.sub(r"\[deadlines\]\n(.|\n)*?(?=\n\[|\Z)", "[deadlines]\n" + "\n".join(f"{k} = {v}" for k, v in DEADLINES.items()), base)
        base += f'\n[e2e]\nmax_documents = 20\ncors_allowed_origins = {json.dumps(ALLOWED_ORIGINS)}\nbuli2_callback_s = {BULI2_CALLBACK_S}\n'
        variants = {"base": base, "cuda": base.replace("require_cuda = false", "require_cuda = true"),
                    "one-document": base.replace("max_documents = 20", "max_documents = 1")}
        for name, text in variants.items():
            box.profiles[name] = sandbox.home / f"profile-{name}.toml"
            box.profiles[name].write_text(text)
        yield box
    finally:
        stop_private_sandbox(sandbox)


def run_gate(box: Box, reports: Path, profile: str, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", f"--target={box.profiles[profile]}", f"--gate-reports={reports}",
         f"--html={reports}/gate-report.html", f"--junitxml={reports}/junit.xml",
         f"--alluredir={reports}/allure-results", "-p", "no:logging", "-q", *args],
        cwd=REPO, env=box.sandbox.env, capture_output=True, text=True, timeout=300,
    )
    summary = reports / "summary.json"
    assert summary.exists(), f"the gate wrote no summary (exit {result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}"
    return result, json.loads(summary.read_text())


def gate_outcome(summary: dict) -> dict:
    """What must be equal between a serial and a parallel run: verdict, and each gate's status and counts."""
    return {"verdict": summary["verdict"],
            **{name: (gate["status"], gate["counts"]) for name, gate in summary["gates"].items()}}


def test_healthy_sandbox_passes_gpu_and_e2e_serially_and_with_two_workers(box, tmp_path):
    serial, serial_summary = run_gate(box, tmp_path / "serial", "base", "-m", "gpu or e2e", "tests/gpu", "tests/e2e")
    assert serial_summary["verdict"] == "go", serial.stdout[-4000:]
    assert [serial_summary["gates"][g]["status"] for g in ("gpu", "e2e")] == ["passed", "passed"]
    parallel, parallel_summary = run_gate(box, tmp_path / "parallel", "base", "-n", "2", "-m", "gpu or e2e", "tests/gpu", "tests/e2e")
    assert gate_outcome(parallel_summary) == gate_outcome(serial_summary), parallel.stdout[-4000:]


def test_a_fault_gives_the_same_no_go_with_two_workers(box, tmp_path):
    with instance_type(box, "m5.xlarge"):
        runs = {mode: run_gate(box, tmp_path / mode, "base", *extra, "-m", "gpu", "tests/gpu")
                for mode, extra in (("serial", ()), ("parallel", ("-n", "2")))}
    outcomes = {mode: gate_outcome(summary) for mode, (_, summary) in runs.items()}
    assert outcomes["serial"]["verdict"] == "no-go", runs["serial"][0].stdout[-4000:]
    assert outcomes["parallel"] == outcomes["serial"], runs["parallel"][0].stdout[-4000:]


def test_a_run_creates_no_more_documents_than_the_profile_allows(box, tmp_path):
    result, summary = run_gate(box, tmp_path, "one-document", "-m", "e2e", "-k", "test_ktp_flow or test_npwp", "tests/e2e")
    gate = summary["gates"]["e2e"]
    errors = [f for f in gate["failures"] if f["outcome"] == "error"]
    assert summary["verdict"] == "inconclusive" and errors, result.stdout[-4000:]
    assert all("has already created 1 documents" in f["message"] for f in errors), errors
    assert gate["counts"]["passed"] >= 1, f"the first document's checks must still run: {gate['counts']}"


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_fault_fails_exactly_its_check(box, tmp_path, fault):
    gates = sorted({check.gate for check in fault.checks})
    runs = {}
    with fault.inject(box):
        for gate in gates:  # one run per gate, narrowed to the fault's checks in it
            keyword = " or ".join(f"({check.keyword})" for check in fault.checks if check.gate == gate)
            runs[gate] = run_gate(box, tmp_path / gate, fault.profile, "-m", gate, "-k", keyword, f"tests/{gate}")
    for gate, (result, summary) in runs.items():
        expected = {check.test: check.message for check in fault.checks if check.gate == gate}
        outcome = summary["gates"][gate]
        failures = {f["test"].split(f"tests/{gate}/", 1)[-1]: f for f in outcome["failures"]}
        context = f"fault {fault.name}, gate {gate}: failures {sorted(failures)}\n{result.stdout[-3000:]}"
        assert (summary["verdict"], outcome["status"], result.returncode) == ("no-go", "failed", 1), context
        assert sorted(failures) == sorted(expected), context
        assert outcome["counts"]["selected"] == len(expected), f"-k selected {outcome['counts']['selected']} tests; {context}"
        for test, message in expected.items():
            assert failures[test]["outcome"] == "failed", f"{test} {failures[test]['outcome']}, expected failed; {context}"
            assert message in failures[test]["message"], f"expected {message!r} in the message of {test}; {context}"
        assert summary["rollback"]["actions"], f"a no-go must reach the rollback hook (mode plan); {context}"
