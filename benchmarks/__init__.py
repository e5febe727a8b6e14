"""Benchmarks: OCR accuracy (ocr_accuracy) and the performance harness. Each writes its numbers to
``benchmarks/results/`` (``write_result``) and prints them as a table (``print_table``)."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

RESULTS = Path(__file__).resolve().parent / "results"


def write_result(name: str, result: dict[str, Any]) -> Path:
    """``results/<name>-<host>.json``: ``result`` with the machine and the date it was measured on."""
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}-{platform.node() or 'host'}.json"
    measured = {"host": platform.node(), "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out.write_text(json.dumps({**measured, **result}, indent=2) + "\n")
    return out


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Columns right-aligned, each as wide as its header or its widest value."""
    cells = [[str(value) for value in row] for row in rows]
    widths = [max([len(header), *(len(row[n]) for row in cells)]) for n, header in enumerate(headers)]
    for row in [list(headers), *cells]:
        print("  ".join(value.rjust(width) for value, width in zip(row, widths)))
