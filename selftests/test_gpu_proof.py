"""The GPU proof's orchestration (scripts/gpu/proof.py) keeps working where no GPU is: its rehearsal
starts Redis, moto and the worker, answers the clean corpus cards, and runs the gate's gpu tests with
the local moto as AWS. The proof itself needs a GPU machine (issue 8); this keeps it from rotting
between the sessions that get one."""

from __future__ import annotations

import json
import subprocess
import sys

from selftests.sandbox_fixture import REPO


def test_the_proof_rehearses_without_a_gpu(tmp_path):
    done = subprocess.run([sys.executable, "scripts/gpu/proof.py", "--allow-cpu", "--cards", "0",
                           "--machine", "selftest", f"--results={tmp_path}"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    output = done.stdout[-3000:] + done.stderr[-2000:]
    assert done.returncode == 0, output
    report = json.loads((tmp_path / "gpu-proof-selftest.json").read_text())
    failed = [c["name"] for c in report["checks"] if not c["passed"]]
    assert (report["verdict"], failed) == ("rehearsal", []), output
    gate_lines = "\n".join(report["gate"]["tail"])
    assert "gpu        error         3 passed, 2 error" in gate_lines, gate_lines
