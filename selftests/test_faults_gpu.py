"""Every gpu check can fail: for each, break the worker or its placement in a private sandbox, run the
gate narrowed to the fault's checks and see exactly them fail with their messages and the verdict no-go;
then heal (``selftests/runtime_faults.py``). Two faults also break e2e checks, which are part of the same
case. And: ``-n 2`` gives the same verdict as a serial run, healthy or not.
"""

from __future__ import annotations

import pytest

from selftests.runtime_faults import (  # noqa: F401 - box is a fixture
    MISREADING_ENGINE, Check, Fault, assert_fails_exactly_its_checks, box, deployed, gate_outcome, instance_type, named,
    nothing, run_gate, worker_scaled_to_zero)

pytestmark = pytest.mark.sandbox

FAULTS = [
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
]


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


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_fault_fails_exactly_its_check(box, tmp_path, fault):
    assert_fails_exactly_its_checks(box, tmp_path, fault)
