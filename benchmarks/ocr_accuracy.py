"""OCR accuracy on the fixture corpus: ``python -m benchmarks.ocr_accuracy [--engine E] [--set S]``.

For each engine and card set: field-level exact-match accuracy (per field and overall), character error
rate, seconds per card, and whether each card's score takes the path its manifest entry expects.
Writes ``benchmarks/results/ocr-accuracy.json`` and a markdown summary ``ocr-accuracy.md``.

Sets: ``clean`` is every clean scan with ground truth (the ``clean`` cards and the ``invalid`` KTPs,
which are clean scans of forged cards); ``degraded`` the photo-like ``degraded`` cards.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from statistics import mean, median

from benchmarks import RESULTS
from filot_contract.documents import decide
from sandbox.ocr.recognize import ENGINES, load_engine, recognize
from sandbox.ocr.score import score_document

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fixtures" / "ktp"
SETS = {"clean": ("clean", "invalid"), "degraded": ("degraded",)}
CPU_ENGINES = ("tesseract", "rapidocr")
_PATH_OF_STATUS = {"auto_approved": "auto_approve", "auto_rejected": "auto_reject", "manual_review": "manual_review"}


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def cards_of(set_name: str, only: str | None) -> list[dict]:
    manifest = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
    return [c for c in manifest["cards"]
            if c["variant"] in SETS[set_name] and c["fields"] and (only is None or only in c["file"])]


def run_card(card: dict, engine) -> dict:
    data = (CORPUS / card["file"]).read_bytes()
    started = time.perf_counter()
    result = recognize(card["documentType"], data, engine)
    seconds = time.perf_counter() - started
    score, reasons = score_document(card["documentType"], result.fields, result.field_confidence, result.confidence)
    path = _PATH_OF_STATUS[decide(score).value]
    wrong = {name: {"expected": truth, "read": result.fields.get(name)}
             for name, truth in card["fields"].items() if result.fields.get(name) != truth}
    return {
        "file": card["file"], "seconds": round(seconds, 3), "confidence": result.confidence,
        "score": score, "path": path, "expectedPath": card["expectedPath"], "reasons": reasons,
        "error": result.error, "notes": result.notes, "wrong": wrong,
        "chars": sum(len(v) for v in card["fields"].values()),
        "char_errors": sum(edit_distance(result.fields.get(k) or "", v) for k, v in card["fields"].items()),
    }


def summarise(runs: list[dict], cards: list[dict]) -> dict:
    fields = [(c["file"], name) for c in cards for name in c["fields"]]
    wrong = {(r["file"], name) for r in runs for name in r["wrong"]}
    per_field: dict[str, list[bool]] = {}
    for file, name in fields:
        per_field.setdefault(name, []).append((file, name) not in wrong)
    seconds = [r["seconds"] for r in runs]
    return {
        "cards": len(runs),
        "fields": len(fields),
        "fields_exact": len(fields) - len(wrong),
        "accuracy": round((len(fields) - len(wrong)) / len(fields), 4) if fields else None,
        "cer": round(sum(r["char_errors"] for r in runs) / max(sum(r["chars"] for r in runs), 1), 4),
        "seconds_per_card": {"mean": round(mean(seconds), 3), "median": round(median(seconds), 3),
                             "max": round(max(seconds), 3)} if seconds else None,
        "per_field": {name: round(sum(ok) / len(ok), 4) for name, ok in per_field.items()},
        "paths_as_expected": sum(r["path"] == r["expectedPath"] for r in runs),
        "cards_detail": runs,
    }


def bench_engine(name: str, set_names: list[str], only: str | None) -> dict:
    started = time.perf_counter()
    engine = load_engine(name)
    result = {"device": engine.device, "load_seconds": round(time.perf_counter() - started, 2), "sets": {}}
    for set_name in set_names:
        cards = cards_of(set_name, only)
        runs = [run_card(card, engine) for card in cards]
        result["sets"][set_name] = summarise(runs, cards)
        print(_line(name, set_name, result["sets"][set_name]), flush=True)
    return result


def _line(engine: str, set_name: str, s: dict) -> str:
    return (f"{engine:10} {set_name:9} cards {s['cards']:3}  fields {s['fields_exact']}/{s['fields']} "
            f"= {100 * (s['accuracy'] or 0):.1f} %  CER {100 * s['cer']:.2f} %  "
            f"{s['seconds_per_card']['mean'] if s['seconds_per_card'] else 0:.2f} s/card  "
            f"paths {s['paths_as_expected']}/{s['cards']}")


def markdown(report: dict) -> str:
    rows = ["| engine | set | cards | fields exact | accuracy | CER | s/card (mean) | paths as expected |",
            "|---|---|---|---|---|---|---|---|"]
    for engine, result in report["engines"].items():
        for set_name, s in result["sets"].items():
            rows.append(f"| {engine} ({result['device']}) | {set_name} | {s['cards']} "
                        f"| {s['fields_exact']}/{s['fields']} "
                        f"| {100 * (s['accuracy'] or 0):.1f} % | {100 * s['cer']:.2f} % "
                        f"| {s['seconds_per_card']['mean'] if s['seconds_per_card'] else 0:.2f} "
                        f"| {s['paths_as_expected']}/{s['cards']} |")
    machine = report["machine"]
    return (f"# OCR accuracy on fixtures/ktp\n\n{report['generatedAt']}, {machine['cpus']} CPUs, "
            f"{machine['platform']}. Regenerate: `python -m benchmarks.ocr_accuracy`.\n\n" + "\n".join(rows) + "\n\n"
            "Fields exact: the parsed value equals the ground truth of `fixtures/ktp/manifest.json` character for "
            "character. CER: character edit distance over all ground-truth characters (a missing field counts in "
            "full). Seconds per card: the whole `recognize()` (decode, card location, quality, OCR, parsing), one "
            "card at a time. Paths as expected: `score_document` + `decide` give the manifest's `expectedPath`. "
            "Sets: clean = clean scans with ground truth (the clean KTP and NPWP cards and the invalid KTPs, which "
            "are clean scans of forged cards); degraded = the photo-like cards.\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=[*ENGINES, "all"], default="all",
                        help="engine to measure; all = the CPU engines (tesseract, rapidocr)")
    parser.add_argument("--set", choices=[*SETS, "all"], default="all", dest="set_name")
    parser.add_argument("--only", help="only cards whose file name contains this text (quick checks)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for ocr-accuracy.json/.md")
    args = parser.parse_args(argv)
    engines = list(CPU_ENGINES) if args.engine == "all" else [args.engine]
    set_names = list(SETS) if args.set_name == "all" else [args.set_name]
    report = {
        "generatedAt": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "engines": {},
    }
    for name in engines:
        try:
            report["engines"][name] = bench_engine(name, set_names, args.only)
        except (RuntimeError, OSError, ImportError) as exc:
            print(f"ocr_accuracy: engine {name} cannot run: {exc}", file=sys.stderr)
            return 1
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ocr-accuracy.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (args.out / "ocr-accuracy.md").write_text(markdown(report))
    print(f"ocr_accuracy: wrote {args.out / 'ocr-accuracy.json'} and ocr-accuracy.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
