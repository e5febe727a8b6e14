"""``python -m benchmarks [NAME [ARGS...]]`` (``make bench ARGS='NAME ...'``): run one benchmark by name with its
own arguments, or with no name every benchmark this machine can run without a GPU, one after the other.
Each writes its numbers to ``benchmarks/results/``; nothing is asserted."""

from __future__ import annotations

import importlib
import sys

#: name -> what it measures (the module ``benchmarks.<name>``)
BENCHMARKS = {
    "ocr_accuracy": "field accuracy and speed of the sandbox worker's OCR engines on the fixture corpus",
    "e2e": "sandbox cold start, latency per KTP and throughput with 1 and 2 OCR workers",
    "api_load": "requests/s and latency of the API with more and more users at once (the gate's load traffic)",
    "ocr_throughput": "cards/s and latency of the CUDA engine against Tesseract on all cores (a GPU machine)",
}
#: What a bare ``python -m benchmarks`` runs: the ones that need no GPU.
WITHOUT_A_GPU = ("ocr_accuracy", "e2e", "api_load")


def usage() -> str:
    lines = ["usage: python -m benchmarks [NAME [ARGS...]]   (NAME --help for its arguments)", "benchmarks:"]
    lines += [f"  {name:<15} {what}" for name, what in BENCHMARKS.items()]
    lines.append(f"with no NAME: {', '.join(WITHOUT_A_GPU)}")
    return "\n".join(lines)


def run(name: str, argv: list[str]) -> int:
    print(f"== benchmarks.{name} {' '.join(argv)}".rstrip(), flush=True)
    return importlib.import_module(f"benchmarks.{name}").main(argv)


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(usage())
        return 0
    if argv:
        if argv[0] not in BENCHMARKS:
            print(f"python -m benchmarks: unknown benchmark {argv[0]!r}\n{usage()}", file=sys.stderr)
            return 2
        return run(argv[0], argv[1:])
    failed = [name for name in WITHOUT_A_GPU if run(name, []) != 0]
    if failed:
        print(f"python -m benchmarks: {', '.join(failed)} failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
