"""Faults in the running services: a hung process (SIGSTOP, as a deadlock or a stuck GPU call leaves
it: alive, but answering nothing), a crashed one (SIGKILL, as the OOM killer ends it), BULI2 unavailable
or signing wrongly (the simulator's admin API), and the profile-side "worker on CPU when the GPU is
required"."""

from __future__ import annotations

import json
import os
import signal

from filot_contract import redis_keys
from filot_gate.log_levels import error_level
from filot_gate.task_logs import TaskStream, first_messages
from sandbox.faults.aws import force_new_deployment, target_states
from sandbox.faults.context import FaultContext
from sandbox.faults.model import Fault, FaultError, Saved


def signal_tasks(pids: list[int], sig: signal.Signals) -> None:
    """Each task runs in its own process group (its container): signal all of it."""
    for pid in pids:
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass  # the task is gone (replaced); nothing left to freeze or thaw


def _worker_ids(ctx: FaultContext) -> list[str]:
    return [f"ocr-gpu-{t['task'][:8]}" for t in ctx.tasks("ocr-gpu")]


def _live_heartbeats(ctx: FaultContext, workers: list[str]) -> list[str]:
    client = ctx.redis()
    return [w for w in workers if client.exists(redis_keys.worker_heartbeat(w))]


def _freeze_worker(ctx: FaultContext) -> None:
    tasks = ctx.tasks("ocr-gpu")
    if not tasks:
        raise FaultError("ECS service filot-ocr-gpu-service: expected a running worker task to freeze, found none")
    pids, workers = [t["pid"] for t in tasks], _worker_ids(ctx)
    ctx.keep({"pids": pids})
    signal_tasks(pids, signal.SIGSTOP)
    ctx.wait(lambda: _live_heartbeats(ctx, workers), lambda live: not live,
             f"the heartbeats of {', '.join(workers)} expired (TTL {redis_keys.HEARTBEAT_TTL_S}s)",
             deadline_s=redis_keys.HEARTBEAT_TTL_S * 3)


def _thaw_worker(ctx: FaultContext, saved: Saved) -> None:
    signal_tasks(saved.get("pids", []), signal.SIGCONT)
    workers = _worker_ids(ctx)
    ctx.wait(lambda: _live_heartbeats(ctx, workers), lambda live: len(live) == len(workers),
             f"heartbeats of {', '.join(workers)}", describe=lambda live: f"{len(live)}/{len(workers)} live")


def _freeze_backend(count: int | None):
    """Freeze ``count`` backend tasks (all when None) and wait until the ALB reports them unhealthy."""
    def act(ctx: FaultContext) -> None:
        tasks = ctx.tasks("backend")[:count]
        ips = [t["ip"] for t in tasks]
        signal_tasks(ctx.keep({"pids": [t["pid"] for t in tasks], "ips": ips})["pids"], signal.SIGSTOP)
        ctx.wait(lambda: target_states(ctx), lambda s: all(s.get(ip) == "unhealthy" for ip in ips),
                 f"targets {', '.join(ips)} unhealthy (health checks time out)")
    return act


def _thaw_backend(ctx: FaultContext, saved: Saved) -> None:
    signal_tasks(saved.get("pids", []), signal.SIGCONT)
    _wait_for_healthy_targets(ctx)


def _wait_for_healthy_targets(ctx: FaultContext) -> None:
    ctx.wait(lambda: target_states(ctx), lambda s: all(s.get(t["ip"]) == "healthy" for t in ctx.tasks("backend")),
             "every backend task a healthy target")


def _crash_backend_task(ctx: FaultContext) -> Saved:
    """One backend container killed as the OOM killer kills it: ECS stops its task (EssentialContainerExited,
    exit 137) and starts another, and the service is whole again; only the stopped task tells."""
    tasks = ctx.tasks("backend")
    if not tasks:
        raise FaultError("ECS service filot-backend-service: expected a running task to crash, found none")
    crashed = tasks[0]["task"]
    signal_tasks([tasks[0]["pid"]], signal.SIGKILL)
    ctx.wait(lambda: [t["task"] for t in ctx.tasks("backend")], lambda ids: crashed not in ids,
             f"backend task {crashed} stopped and replaced")
    ctx.wait_stable("backend")
    _wait_for_healthy_targets(ctx)
    return {"task": crashed}


def _redeploy_backend(ctx: FaultContext, _: Saved) -> None:
    """What an operator does once the crash is understood: a new deployment of the same revision; the
    crash stays with the deployment before it."""
    force_new_deployment(ctx, "backend")
    _wait_for_healthy_targets(ctx)


def _log_stream(task: dict) -> TaskStream:
    """Where the controller's task ships its output (the awslogs stream of its main container)."""
    return TaskStream(task["task"], task["logGroup"], task["logStream"])


def _print_secret_in_backend_log(ctx: FaultContext) -> Saved:
    """One backend task prints its configuration at start-up, DATABASE_URL with its password (a debug
    dump left in a release), and the awslogs driver ships the line to its stream."""
    tasks = ctx.tasks("backend")
    if not tasks:
        raise FaultError("ECS service filot-backend-service: expected a running task to print a secret, found none")
    task = tasks[0]
    line = json.dumps({"level": "info", "msg": "FiLot API configuration", "DATABASE_URL": ctx.env["DATABASE_URL"]})
    with open(task["log"], "a", encoding="utf-8") as log:
        log.write(line + "\n")
    stream = _log_stream(task)
    ctx.wait(lambda: first_messages(ctx.client("logs"), stream, limit=10_000) or [], lambda lines: line in lines,
             f"the configuration line in {stream.group} {stream.stream}",
             describe=lambda lines: f"{len(lines)} lines, not that one")
    return {"task": task["task"]}


#: An OCR result no worker of this release writes (no status, no fields): what a worker of another
#: release, with another result schema, would publish.
MALFORMED_RESULT = {"jobId": "fault-malformed-result", "documentId": "not-a-document", "result": "v0"}


def _publish_malformed_ocr_result(ctx: FaultContext) -> Saved:
    """A worker of another release publishes an OCR result the backend cannot read: every backend task
    drops it and logs the error, and the awslogs driver ships the line to the task's stream."""
    tasks = ctx.tasks("backend")
    if not tasks:
        raise FaultError("ECS service filot-backend-service: expected running tasks to read an OCR result, found none")
    ctx.redis().publish(redis_keys.OCR_RESULTS_CHANNEL, json.dumps(MALFORMED_RESULT))
    logs = ctx.client("logs")
    streams = [_log_stream(t) for t in tasks]

    def with_an_error() -> list[TaskStream]:
        return [s for s in streams if any(error_level(line) for line in first_messages(logs, s, limit=10_000) or [])]

    ctx.wait(with_an_error, lambda found: len(found) == len(streams), f"an error line in each of {len(streams)} backend stream(s)",
             describe=lambda found: f"{len(found)} with one")
    return {"tasks": [t["task"] for t in tasks]}


def _worker_on_cpu(ctx: FaultContext) -> None:
    """Nothing to break where there is no GPU: check that the worker really runs on the CPU, and say
    how the gate sees it (a profile with ``[gpu] require_cuda = true``)."""
    beats = [json.loads(v) for w in _worker_ids(ctx) if (v := ctx.redis().get(redis_keys.worker_heartbeat(w)))]
    devices = sorted({str(b.get("device")) for b in beats})
    if devices != ["cpu"]:
        raise FaultError(f"worker-on-cpu-when-gpu-required: expected the worker on device cpu, its heartbeats say {devices}"
                         " (on a GPU machine this fault cannot be produced by the sandbox)")
    ctx.say("the worker runs on the CPU here (heartbeat device=cpu, CPU fallback line in its log); run the gpu gate"
            " with a profile that sets [gpu] require_cuda = true and its device-log check fails")


def _buli2(down: bool | None = None, bad_signature: bool | None = None):
    """Set one of the simulator's two fault switches, keeping the other as the active faults say."""
    def act(ctx: FaultContext, _: Saved | None = None) -> None:
        is_down = down if down is not None else "buli2-down" in ctx.active
        is_bad = bad_signature if bad_signature is not None else "buli2-bad-signature" in ctx.active
        ctx.buli2_mode("down" if is_down else "normal", is_bad)
    return act


FAULTS = [
    Fault("worker-not-polling", "the OCR worker process frozen (SIGSTOP): alive, heartbeat expired, not polling",
          "gpu test_worker_heartbeat_is_fresh_and_it_polls_the_queue (and the sample job)", _freeze_worker, _thaw_worker,
          needs=("controller", "redis")),
    Fault("worker-on-cpu-when-gpu-required", "profile-side: the worker runs on the CPU (no change here)",
          "gpu test_worker_log_shows_the_gpu_or_the_allowed_cpu_fallback with [gpu] require_cuda = true",
          _worker_on_cpu, lambda ctx, saved: None, needs=("controller", "redis")),
    Fault("target-unhealthy", "one backend task frozen (SIGSTOP): its ALB health checks time out",
          "infra test_every_task_of_the_service_is_a_healthy_target[backend]", _freeze_backend(1), _thaw_backend),
    Fault("api-task-crashed", "one backend task's container killed (SIGKILL, exit 137 as an OOM kill); ECS replaced the"
          " task, running == desired again", "infra test_no_task_of_this_deployment_stopped_on_a_failure[backend]",
          _crash_backend_task, _redeploy_backend),
    Fault("secret-in-logs", "one backend task printed its DATABASE_URL, password included, into its log stream",
          "infra test_no_line_of_this_deployment_s_logs_carries_a_secret_value[backend]",
          _print_secret_in_backend_log, _redeploy_backend),
    Fault("malformed-ocr-result", "a worker of another release published an OCR result the backend cannot read:"
          " every backend task dropped it and logged an error",
          "infra test_no_container_of_this_deployment_logged_an_error[backend]", _publish_malformed_ocr_result, _redeploy_backend),
    Fault("api-unhealthy", "every backend task frozen (SIGSTOP): /health times out, no healthy target, the ALB answers 503",
          "infra test_every_task_of_the_service_is_a_healthy_target[backend]; every e2e check", _freeze_backend(None), _thaw_backend),
    Fault("buli2-down", "BULI2 simulator in mode down: POST /reviews and /health answer 503",
          "e2e BULI2 escalation checks (escalations wait in the retry queue)", _buli2(down=True), _buli2(down=False),
          undone_by="buli2", needs=("buli2",)),
    Fault("buli2-bad-signature", "BULI2 simulator signs its callbacks with a wrong secret",
          "e2e review callback checks (FiLot must refuse them with 401)", _buli2(bad_signature=True),
          _buli2(bad_signature=False), undone_by="buli2", needs=("buli2",)),
]
