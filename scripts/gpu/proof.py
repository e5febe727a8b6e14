"""The GPU proof (issue 8): Redis, moto's S3 and the OCR worker on CUDA, the gpu checks, the benchmark.

On an NVIDIA machine (``scripts/gpu/proof.sh services`` sets up the offline bundle and calls this):

1. starts redis-server, moto's S3 server and ``python -m sandbox.worker`` with ``OCR_ENGINE=cuda`` and
   ``OCR_GPU_AUTOFALLBACK=false`` (no silent CPU fallback), each on a free loopback port;
2. checks what the gpu gate checks, with its data-plane half: the worker's log names the GPU
   (``nvidia-smi`` line), its heartbeat is fresh and it polls ``filot:ocr:gpu:queue``, and sample
   KTP/NPWP jobs come back on ``filot:ocr:gpu:results`` with ``device: "cuda:0"``, ``engine: "cuda"``
   and every parsed field equal to the ground truth; then runs the gate's own ``-m gpu`` tests
   against the same Redis (recorded, not part of the verdict: their AWS half needs ECS);
3. stops them and runs ``benchmarks.ocr_throughput`` (CUDA batched vs Tesseract on every core);
4. writes ``benchmarks/results/gpu-proof-<machine>.json`` (and copies it to ``$OUT`` when set).

``--allow-cpu`` runs the same steps on a machine without a GPU (the worker falls back to the CPU): a
rehearsal of the orchestration whose verdict is ``rehearsal``, never ``passed``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.ocr_throughput import machine_name  # noqa: E402
from filot_contract import aws_names, redis_keys  # noqa: E402
from filot_contract.messages import OcrJob, OcrResult  # noqa: E402
from sandbox.processes import Managed, SandboxError, port_open, tail, wait_ready  # noqa: E402

CORPUS = ROOT / "fixtures" / "ktp"
RESULTS = ROOT / "benchmarks" / "results"
BUCKET = "filot-gpu-proof"
START_DEADLINE_S = 180.0  # the worker loads torch, converts the nets and warms up before its first poll
JOB_DEADLINE_S = 120.0
HEARTBEAT_MAX_AGE_S = 15.0
GATE_DEADLINE_S = 120.0
BENCH_DEADLINE_S = 1200.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Proof:
    """The services of one proof run, its checks and its report."""

    def __init__(self, run_dir: Path, allow_cpu: bool, concurrency: int) -> None:
        self.run_dir = run_dir
        self.allow_cpu = allow_cpu
        self.concurrency = concurrency
        self.redis_port, self.s3_port, self.health_port = free_port(), free_port(), free_port()
        self.checks: list[dict[str, Any]] = []
        self.timings: dict[str, float] = {}
        self.jobs: list[dict[str, Any]] = []

    # -- services ------------------------------------------------------------------------------

    def _managed(self, name: str) -> Managed:
        return Managed(name, self.run_dir / "run", self.run_dir / "logs" / f"{name}.log")

    def _timed_start(self, name: str, argv: list[str], ready, env: dict[str, str] | None = None) -> Managed:
        managed = self._managed(name)
        started = time.monotonic()
        managed.start(argv, env=env, cwd=ROOT)
        wait_ready(name, managed, ready, START_DEADLINE_S)
        self.timings[f"{name}_start_s"] = round(time.monotonic() - started, 2)
        return managed

    def start_redis(self) -> Managed:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SandboxError("redis-server not found on PATH (proof.sh unpacks it from .whl/services/debs)")
        argv = [binary, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--notify-keyspace-events", redis_keys.KEYSPACE_EVENTS, "--maxmemory-policy", redis_keys.REQUIRED_EVICTION_POLICY]
        return self._timed_start("redis", argv, self._redis_answers)

    def _redis_answers(self) -> bool:
        try:
            return bool(self.redis().ping())
        except redis.RedisError:
            return False

    def redis(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.redis_port, socket_timeout=5, socket_connect_timeout=2)

    def start_s3(self) -> Managed:
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.s3_port)]
        return self._timed_start("s3", argv, lambda: port_open("127.0.0.1", self.s3_port))

    def s3(self):
        import boto3

        return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{self.s3_port}", region_name="us-east-1",
                            aws_access_key_id="proof", aws_secret_access_key="proof-secret")

    def start_worker(self) -> Managed:
        env = {
            **os.environ,
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "CF_R2_ENDPOINT": f"http://127.0.0.1:{self.s3_port}",
            "CF_R2_ACCESS_KEY_ID": "proof",
            "CF_R2_SECRET_ACCESS_KEY": "proof-secret",
            "CF_R2_BUCKET_NAME": BUCKET,
            "AWS_DEFAULT_REGION": "us-east-1",
            "OCR_ENGINE": "cuda",
            "OCR_GPU_ENABLED": "true",
            "OCR_GPU_AUTOFALLBACK": "true" if self.allow_cpu else "false",
            "OCR_GPU_CONCURRENCY": str(self.concurrency),
            "HOST": "127.0.0.1",
            "WORKER_HEALTH_PORT": str(self.health_port),
            "WORKER_ID": "gpu-proof",
            "PYTHONUNBUFFERED": "1",
        }
        return self._timed_start("worker", [sys.executable, "-m", "sandbox.worker"], self._heartbeat_seen, env)

    def _heartbeat_seen(self) -> bool:
        try:
            return bool(self.redis().exists(redis_keys.worker_heartbeat("gpu-proof")))
        except redis.RedisError:
            return False

    # -- checks --------------------------------------------------------------------------------

    def check(self, name: str, passed: bool, expected: str, actual: Any) -> None:
        self.checks.append({"name": name, "passed": bool(passed), "expected": expected, "actual": actual})
        print(f"[{'PASS' if passed else 'FAIL'}] {name}: expected {expected}; saw {actual}", flush=True)

    def check_gpu_in_log(self, worker: Managed) -> None:
        log = worker.log_file.read_text(errors="replace")
        lines = [line for line in log.splitlines() if "GPU" in line or "nvidia-smi" in line or "OCR device" in line]
        if self.allow_cpu:
            self.check("worker log says it fell back to the CPU", any("falling back to CPU" in line for line in lines),
                       "'falling back to CPU'", lines[:4])
            return
        self.check("worker log names the GPU (nvidia-smi)", any("nvidia-smi:" in line for line in lines) and
                   any("GPU detected" in line for line in lines), "'GPU detected' and an 'nvidia-smi:' line", lines[:4])

    def check_heartbeat(self) -> None:
        raw = self.redis().get(redis_keys.worker_heartbeat("gpu-proof"))
        beat = json.loads(raw) if raw else {}
        polled = beat.get("lastPollAt")
        age = time.time() - datetime.fromisoformat(polled.replace("Z", "+00:00")).timestamp() if polled else None
        self.check("worker heartbeat fresh and polling the queue",
                   age is not None and age <= HEARTBEAT_MAX_AGE_S and beat.get("queue") == redis_keys.OCR_QUEUE,
                   f"a poll of {redis_keys.OCR_QUEUE} within {HEARTBEAT_MAX_AGE_S:g}s", beat)

    def run_jobs(self, cards: list[dict]) -> None:
        """The first card alone (the first job after start-up), then the rest at once."""
        s3 = self.s3()
        s3.create_bucket(Bucket=BUCKET)
        for card in cards:
            s3.put_object(Bucket=BUCKET, Key=f"proof/{card['file']}", Body=(CORPUS / card["file"]).read_bytes())
        self._answer(cards[:1], "first_job_s")
        if len(cards) > 1:
            self._answer(cards[1:], "other_jobs_s")

    def _answer(self, cards: list[dict], timing: str) -> None:
        client = self.redis()
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(redis_keys.OCR_RESULTS_CHANNEL)
        pending: dict[str, dict] = {}
        started = time.monotonic()
        for card in cards:
            job = OcrJob(jobId=str(uuid.uuid4()), documentId=str(uuid.uuid4()), documentType=card["documentType"],
                         bucket=BUCKET, objectKey=f"proof/{card['file']}", traceId=uuid.uuid4().hex)
            pending[job.jobId] = card
            client.lpush(redis_keys.OCR_QUEUE, job.to_json())
        deadline = started + JOB_DEADLINE_S
        while pending and time.monotonic() < deadline:
            message = pubsub.get_message(timeout=min(1.0, max(deadline - time.monotonic(), 0.01)))
            if message is None:
                continue
            result = OcrResult.from_json(message["data"])
            if result.jobId in pending:
                self._judge(pending.pop(result.jobId), result, time.monotonic() - started)
        pubsub.close()
        self.timings[timing] = round(time.monotonic() - started, 2)
        for card in pending.values():
            self.check(f"job {card['file']} answered", False, f"a result within {JOB_DEADLINE_S:g}s", "none")

    def _judge(self, card: dict, result: OcrResult, seconds: float) -> None:
        wrong = {k: {"expected": v, "read": result.fields.get(k)} for k, v in card["fields"].items() if result.fields.get(k) != v}
        # without a GPU the worker runs the same models through onnxruntime (its CPU fallback engine)
        expected_device, expected_engine = ("cpu", "rapidocr") if self.allow_cpu else ("cuda:0", "cuda")
        self.jobs.append({"file": card["file"], "jobId": result.jobId, "status": result.status, "engine": result.engine,
                          "device": result.device, "durationMs": result.durationMs, "answeredAfterS": round(seconds, 3),
                          "fieldsExact": len(card["fields"]) - len(wrong), "fields": len(card["fields"]), "wrong": wrong,
                          "error": result.error})
        self.check(f"job {card['file']} on {expected_device} with the ground truth",
                   result.status == "succeeded" and result.engine == expected_engine and result.device == expected_device
                   and not wrong,
                   f"succeeded, engine {expected_engine}, device {expected_device}, every field right",
                   {"status": result.status, "engine": result.engine, "device": result.device, "wrong": wrong, "error": result.error})

    def run_gate(self) -> dict:
        """The gate's own gpu tests against this Redis, with AWS played by the moto server that serves S3
        here (never the real AWS chain: no traffic off this machine). The sample-job tests find the
        bucket through the cf-r2 secret; the ECS half cannot pass (no cluster runs here) and is recorded."""
        import boto3

        aws = f"http://127.0.0.1:{self.s3_port}"
        boto3.client("secretsmanager", endpoint_url=aws, region_name=aws_names.DEFAULT_REGION,
                     aws_access_key_id="proof", aws_secret_access_key="proof-secret").create_secret(
            Name=f"{aws_names.SECRETS_PREFIX}/cf-r2", SecretString=json.dumps({
                "CF_R2_ENDPOINT": aws, "CF_R2_ACCESS_KEY_ID": "proof", "CF_R2_SECRET_ACCESS_KEY": "proof-secret",
                "CF_R2_BUCKET_NAME": BUCKET, "CF_R2_REGION": "us-east-1"}))
        profile = self.run_dir / "gpu-proof.toml"
        profile.write_text(
            f'[target]\nname = "gpu-proof"\nenvironment = "gpu-proof"\nredis_url = "redis://127.0.0.1:{self.redis_port}/0"\n'
            '# no FiLot API here: the gpu gate talks to Redis and AWS only\napi_url = "http://127.0.0.1:9"\n'
            f'[aws]\nregion = "{aws_names.DEFAULT_REGION}"\nendpoint_url = "{aws}"\nstatic_credentials = ["proof", "proof-secret"]\n'
            f'[gpu]\nrequire_cuda = {"false" if self.allow_cpu else "true"}\n'
            "[lock]\nenabled = false\n"
            f"[deadlines]\nheartbeat_max_age_s = {HEARTBEAT_MAX_AGE_S:g}\njob_s = {JOB_DEADLINE_S:g}\n"
        )
        argv = [sys.executable, "-m", "pytest", "-m", "gpu", f"--target={profile}", "-p", "no:cacheprovider",
                f"--gate-reports={self.run_dir / 'gate'}", "tests/gpu"]
        try:
            done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=GATE_DEADLINE_S)
        except subprocess.TimeoutExpired:
            return {"command": " ".join(argv[1:]), "exit": None, "tail": f"timed out after {GATE_DEADLINE_S:g}s"}
        output = (done.stdout + done.stderr).strip().splitlines()
        return {"command": " ".join(argv[1:]), "exit": done.returncode, "tail": output[-25:]}


def proof_cards() -> list[dict]:
    manifest = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
    return [c for c in manifest["cards"] if c["variant"] == "clean" and c["fields"]]


def gpu_facts() -> dict:
    facts: dict[str, Any] = {"nvidia_smi": None, "torch": None, "cuda": None}
    if shutil.which("nvidia-smi"):
        done = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=10)
        facts["nvidia_smi"] = done.stdout.strip()
    try:
        import torch

        facts.update(torch=torch.__version__, cuda=torch.version.cuda, cuda_available=torch.cuda.is_available())
    except ImportError:
        pass
    return facts


def tesseract_problem() -> str | None:
    """Why Tesseract cannot run here, or None when it can."""
    binary = shutil.which("tesseract")
    if binary is None:
        return "tesseract not on PATH"
    missing = [line.strip() for line in subprocess.run(["ldd", binary], capture_output=True, text=True).stdout.splitlines() if "not found" in line]
    return f"libraries not found: {missing}" if missing else None


def run_benchmark(machine: str, cards: int, batch: int, results: Path) -> dict:
    problem = tesseract_problem()
    engines = ["--engine", "cuda"] + ([] if problem else ["--engine", "tesseract"])
    argv = [sys.executable, "-m", "benchmarks.ocr_throughput", *engines, "--batch", str(batch), "--cards", str(cards),
            "--machine", machine, "--out", str(results)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=BENCH_DEADLINE_S)
    print(done.stdout + done.stderr, flush=True)
    path = results / f"ocr-throughput-{machine}.json"
    report = json.loads(path.read_text()) if done.returncode == 0 and path.is_file() else None
    return {"command": " ".join(argv[1:]), "exit": done.returncode, "tesseract": problem or "ran",
            "file": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path) if report else None,
            "results": report["results"] if report else (done.stdout + done.stderr).splitlines()[-20:],
            "comparison": report["comparison"] if report else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machine", default=None, help="name in the results file (default: the GPU model)")
    parser.add_argument("--allow-cpu", action="store_true", help="rehearse on a machine without a GPU")
    parser.add_argument("--concurrency", type=int, default=8, help="OCR_GPU_CONCURRENCY of the worker")
    parser.add_argument("--cards", type=int, default=512, help="cards per engine in the benchmark (0: no benchmark)")
    parser.add_argument("--batch", type=int, default=64, help="cards in flight for the CUDA engine in the benchmark")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the results files go (default: %(default)s)")
    args = parser.parse_args(argv)
    machine = args.machine or machine_name()
    run_dir = Path(tempfile.mkdtemp(prefix="filot-gpu-proof-"))
    proof = Proof(run_dir, args.allow_cpu, args.concurrency)
    report: dict[str, Any] = {"machine": machine, "generatedAt": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                              "command": "python scripts/gpu/proof.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                              "gpu": gpu_facts()}
    try:
        with ExitStack() as services:
            for start in (proof.start_redis, proof.start_s3, proof.start_worker):
                services.callback(start().stop)
            proof.check_gpu_in_log(proof._managed("worker"))
            proof.check_heartbeat()
            proof.run_jobs(proof_cards())
            report["gate"] = proof.run_gate()
            report["worker_log_tail"] = tail(proof._managed("worker").log_file, 30).splitlines()
    except SandboxError as exc:
        proof.check("services start", False, "redis, S3 and the worker ready", str(exc))
    if args.cards > 0:
        report["benchmark"] = run_benchmark(machine, args.cards, args.batch, args.results)
    passed = bool(proof.checks) and all(c["passed"] for c in proof.checks)
    report.update(verdict="rehearsal" if args.allow_cpu else ("passed" if passed else "failed"),
                  checks=proof.checks, jobs=proof.jobs, timings=proof.timings)
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"gpu-proof-{machine}.json"
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    if os.environ.get("OUT"):
        for name in (path, args.results / f"ocr-throughput-{machine}.json"):
            if name.is_file():
                shutil.copy(name, os.environ["OUT"])
    print(f"gpu proof: {report['verdict']} ({sum(c['passed'] for c in proof.checks)}/{len(proof.checks)} checks); wrote {path}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
