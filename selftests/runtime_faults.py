"""What the gpu and e2e fault selftests share (``test_faults_gpu.py``, ``test_faults_e2e.py``): a private
sandbox per module, the ways to break it, and one gate run per gate narrowed to the fault's checks
(``-m <gate> -k <test>``) that must fail exactly those checks with their messages and the verdict no-go;
then the heal.

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
from selftests import gate_faults
from selftests.gate_faults import sandbox_cli
from selftests.sandbox_fixture import REPO, PrivateSandbox, start_private_sandbox, stop_private_sandbox

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
MISREADING_ENGINE = "selftests.runtime_faults:misreading_engine"


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
        sandbox_cli(self.sandbox, *args)

    def deploy(self, service: str, *settings: str) -> None:
        """A revision of the manifest with ``settings`` (KEY=VALUE) changed; none: the manifest's own."""
        self.cli("deploy", "--service", service, *(arg for s in settings for arg in ("--set", s)))

    def workers_alive(self) -> int:
        return sum(1 for _ in self.redis().scan_iter(redis_keys.WORKER_HEARTBEAT_PATTERN))


# --- faults: each a context manager that breaks one thing and heals it on exit ----------------------


def named_fault(box: Box, name: str) -> ContextManager[None]:
    return gate_faults.named_fault(box.sandbox, name)


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


def assert_fails_exactly_its_checks(box: Box, reports: Path, fault: Fault) -> None:
    """Break, run each gate of the fault's checks narrowed to them, heal; exactly those checks failed."""
    gates = sorted({check.gate for check in fault.checks})
    runs = {}
    with fault.inject(box):
        for gate in gates:  # one run per gate, narrowed to the fault's checks in it
            keyword = " or ".join(f"({check.keyword})" for check in fault.checks if check.gate == gate)
            runs[gate] = run_gate(box, reports / gate, fault.profile, "-m", gate, "-k", keyword, f"tests/{gate}")
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
