"""``make bench`` (``python -m benchmarks``) names every benchmark of ``benchmarks/`` and refuses an unknown one;
the benchmarks themselves are measurements, run by hand (README "Benchmarks"), never in ``make test``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_help_lists_every_benchmark_module():
    modules = {p.stem for p in (REPO / "benchmarks").glob("*.py") if not p.stem.startswith("__")}
    listed = bench("--help")
    assert listed.returncode == 0, listed.stderr
    assert modules <= {line.split()[0] for line in listed.stdout.splitlines() if line.startswith("  ")}, listed.stdout


def test_an_unknown_benchmark_is_refused_with_the_list():
    refused = bench("no_such_benchmark")
    assert refused.returncode == 2 and "unknown benchmark 'no_such_benchmark'" in refused.stderr, refused.stderr
    assert "ocr_accuracy" in refused.stderr
