"""GPU (seed 000 section 3 "Container logs show GPU detected"): each worker task's CloudWatch log
shows the GPU it found or, only where the profile allows CPU (``[gpu] require_cuda = false``), the
line saying it fell back to the CPU.

The stream is the one the task definition's awslogs options name for the task
(``filter-log-events`` on ``/ecs/filot-ocr-gpu-worker``); log delivery is eventually consistent, so
the read is repeated until the device line arrives or the profile's ``deadlines.logs_s`` passes.
"""

from __future__ import annotations

import pytest

from filot_contract import aws_names
from filot_gate.checks import service_name, task_id, tasks
from filot_gate.polling import poll_until
from filot_gate.task_logs import TaskStream, task_stream

pytestmark = pytest.mark.gpu

SERVICE = "ocr-gpu"
#: What the worker logs at start (sandbox/worker/device.py); a profile may name other phrases.
GPU_PHRASES = ("GPU detected",)
FALLBACK_PHRASES = ("falling back to CPU",)


def device_lines(logs, where: TaskStream, phrases: tuple[str, ...]) -> list[str]:
    """``filter-log-events`` of the task's stream for each phrase (a quoted term matches it exactly)."""
    found: list[str] = []
    for phrase in phrases:
        response = logs.filter_log_events(logGroupName=where.group, logStreamNames=[where.stream],
                                          filterPattern=f'"{phrase}"', limit=5)
        found.extend(event["message"] for event in response["events"])
    return found


def test_worker_log_shows_the_gpu_or_the_allowed_cpu_fallback(ecs, target, settings, evidence):
    profile = settings.profile
    require_cuda = bool(profile.get("gpu.require_cuda", True))
    gpu_phrases = tuple(profile.get("gpu.gpu_log_phrases", GPU_PHRASES))
    fallback_phrases = tuple(profile.get("gpu.cpu_fallback_log_phrases", FALLBACK_PHRASES))
    logs = target.client("logs")
    running = tasks(ecs, SERVICE)
    assert running, f"{service_name(SERVICE)}: expected running worker tasks, found none"
    problems, seen = [], {}
    for task in running:
        definition = ecs.describe_task_definition(taskDefinition=task["taskDefinitionArn"])["taskDefinition"]
        where = task_stream(definition, aws_names.GPU_CONTAINER, task_id(task))

        def read(where=where) -> tuple[list[str], list[str]]:
            fallback = device_lines(logs, where, fallback_phrases)
            gpu = [line for line in device_lines(logs, where, gpu_phrases) if line not in fallback]
            return gpu, fallback

        gpu, fallback = poll_until(read, lambda found: bool(found[0] or found[1]),
                                   deadline_s=float(profile.get("deadlines.logs_s", 30)),
                                   awaited=f"the device line in {where.group} {where.stream}", interval_s=1.0)
        seen[f"{where.group} {where.stream}"] = {"gpu": gpu, "cpu fallback": fallback}
        if gpu:
            continue
        if fallback and require_cuda:
            problems.append(f"task {task_id(task)} fell back to the CPU ({fallback[0][:200]}) but profile"
                            f" {profile.path.name} requires CUDA ([gpu] require_cuda = true)")
        elif not fallback:
            problems.append(f"task {task_id(task)}: no line with {' / '.join(gpu_phrases + fallback_phrases)} in"
                            f" {where.group} stream {where.stream}")
    evidence.add("device lines per stream", seen)
    expected = "the GPU detected" + ("" if require_cuda else f" or the CPU fallback (profile {profile.path.name} allows CPU)")
    assert not problems, f"{service_name(SERVICE)}: expected each task's log to show {expected}; {'; '.join(problems)}"
