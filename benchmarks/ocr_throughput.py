"""OCR throughput on the fixture corpus: ``python -m benchmarks.ocr_throughput --engine cuda --engine tesseract``.

Each engine reads the same cards through the worker's path (``sandbox.ocr.recognize.recognize``: decode,
locate the card, OCR, parse) from ``--batch`` threads at once, as the worker's ``OCR_GPU_CONCURRENCY``
jobs would. The CUDA engine coalesces concurrent reads into batched forward passes; Tesseract runs one
single-threaded process per card, so ``--batch`` = the number of CPU cores uses them all. Reported per
engine: cards per second, p50/p95 latency per card (one ``recognize`` call, queueing in the engine
included), field accuracy against the ground truth, GPU memory, and the CUDA engine's time per stage.
Several ``--engine`` options measure each on the same machine in one run; the results go to
``benchmarks/results/ocr-throughput-<machine>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from benchmarks.ocr_accuracy import CORPUS, RESULTS, SETS, cards_of
from sandbox.ocr.recognize import ENGINES, load_engine, recognize

#: The goals of issue 8 for the CUDA engine on one H100.
GOAL_CARDS_PER_S = 50.0
GOAL_SPEEDUP = 20.0


@dataclass(frozen=True)
class Card:
    file: str
    document_type: str
    data: bytes
    truth: dict[str, str]


def corpus(count: int) -> list[Card]:
    """``count`` cards: every fixture card with ground truth (all sets), repeated in order."""
    distinct = [
        Card(c["file"], c["documentType"], (CORPUS / c["file"]).read_bytes(), c["fields"])
        for name in SETS
        for c in cards_of(name, None)
    ]
    return [distinct[i % len(distinct)] for i in range(count)]


def _read(engine, card: Card) -> tuple[float, int, int]:
    """Seconds for one card, and its fields read exactly / fields in its ground truth."""
    started = time.perf_counter()
    result = recognize(card.document_type, card.data, engine)
    seconds = time.perf_counter() - started
    exact = sum(result.fields.get(name) == value for name, value in card.truth.items())
    return seconds, exact, len(card.truth)


def _gpu_memory(device: str) -> dict | None:
    if not device.startswith("cuda"):
        return None
    import torch

    return {
        "max_allocated_mib": round(torch.cuda.max_memory_allocated(device) / 2**20),
        "reserved_mib": round(torch.cuda.memory_reserved(device) / 2**20),
        "total_mib": round(torch.cuda.get_device_properties(device).total_memory / 2**20),
    }


def measure(name: str, cards: list[Card], concurrency: int) -> dict:
    """Load the engine, read the cards once to warm up, then read them again, timed."""
    started = time.perf_counter()
    engine = load_engine(name)
    load_s = time.perf_counter() - started
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(lambda card: _read(engine, card), cards[:concurrency]))
        if engine.device.startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats(engine.device)
        stages_before = dict(getattr(engine, "stage_seconds", {}))
        started = time.perf_counter()
        runs = list(pool.map(lambda card: _read(engine, card), cards))
        wall_s = time.perf_counter() - started
    latencies = np.array([seconds for seconds, _, _ in runs])
    exact, fields = sum(r[1] for r in runs), sum(r[2] for r in runs)
    result = {
        "engine": name,
        "device": engine.device,
        "precision": getattr(engine, "precision", None),
        "concurrency": concurrency,
        "cards": len(cards),
        "load_s": round(load_s, 2),
        "wall_s": round(wall_s, 3),
        "cards_per_s": round(len(cards) / wall_s, 2),
        "latency_ms": {q: round(float(np.percentile(latencies, p)) * 1000, 1) for q, p in (("p50", 50), ("p95", 95))},
        "field_accuracy": round(exact / fields, 4) if fields else None,
        "fields_exact": exact,
        "fields": fields,
        "gpu_memory": _gpu_memory(engine.device),
    }
    stages = getattr(engine, "stage_seconds", None)
    if stages is not None:
        result["stage_s"] = {k: round(v - stages_before.get(k, 0.0), 3) for k, v in stages.items()}
        result["batches"] = getattr(engine, "batches", None)
    close = getattr(engine, "close", None)
    if close is not None:
        close()
    return result


def machine_name() -> str:
    """A file-name-safe name of this machine: the GPU's model when there is one, else CPU count."""
    gpu = None
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    label = gpu or f"cpu{os.cpu_count()}-{socket.gethostname()}"
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def comparison(results: list[dict]) -> dict | None:
    """CUDA vs Tesseract on this machine, against the issue's goals."""
    by_name = {r["engine"]: r for r in results}
    if "cuda" not in by_name or "tesseract" not in by_name:
        return None
    cuda, tesseract = by_name["cuda"], by_name["tesseract"]
    speedup = cuda["cards_per_s"] / tesseract["cards_per_s"]
    return {
        "speedup_vs_tesseract": round(speedup, 1),
        "goal_cards_per_s": GOAL_CARDS_PER_S,
        "goal_speedup": GOAL_SPEEDUP,
        "meets_cards_per_s": cuda["device"].startswith("cuda") and cuda["cards_per_s"] >= GOAL_CARDS_PER_S,
        "meets_speedup": speedup >= GOAL_SPEEDUP,
        "accuracy_not_below_tesseract": (cuda["field_accuracy"] or 0) >= (tesseract["field_accuracy"] or 0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", action="append", choices=list(ENGINES), help="repeat to compare (default: cuda, tesseract)")
    parser.add_argument("--batch", type=int, default=64, help="cards in flight at once for the CUDA engine")
    parser.add_argument("--cpu-batch", type=int, default=os.cpu_count(), help="cards in flight for CPU engines (default: all cores)")
    parser.add_argument("--cards", type=int, default=512, help="cards read per engine (the corpus repeated)")
    parser.add_argument("--machine", default=None, help="name in the results file (default: GPU model or cpuN-host)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.batch < 1 or args.cpu_batch < 1 or args.cards < 1:
        parser.error("--batch, --cpu-batch and --cards must be at least 1")
    engines = args.engine or ["cuda", "tesseract"]
    cards = corpus(args.cards)
    results = []
    for name in engines:
        concurrency = args.batch if name == "cuda" else args.cpu_batch
        try:
            results.append(measure(name, cards, concurrency))
        except (RuntimeError, OSError, ValueError, ImportError) as exc:
            print(f"ocr_throughput: engine {name} cannot run: {exc}", file=sys.stderr)
            return 1
        r = results[-1]
        print(
            f"{name:10} {r['device']:7} x{concurrency:<4} {r['cards_per_s']:8.2f} cards/s  "
            f"p50 {r['latency_ms']['p50']:8.1f} ms  p95 {r['latency_ms']['p95']:8.1f} ms  "
            f"fields {r['fields_exact']}/{r['fields']}",
            flush=True,
        )
    machine = args.machine or machine_name()
    report = {
        "generatedAt": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.ocr_throughput " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"name": machine, "cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "results": results,
        "comparison": comparison(results),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"ocr-throughput-{machine}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    if report["comparison"]:
        print(f"cuda vs tesseract: {report['comparison']['speedup_vs_tesseract']}x", flush=True)
    print(f"ocr_throughput: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
