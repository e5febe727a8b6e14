"""End-to-end benchmark of the sandbox (issue 4): cold start, latency per KTP (upload -> decided
status), throughput with 1 and 2 OCR workers, and where the backend uses Temporal the time from
``POST /verification/evaluate`` to its ``DocumentVerification`` run COMPLETED. ``python -m benchmarks.e2e [--documents 100]``
writes benchmarks/results/e2e-<host>.json and prints a table. Numbers only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from benchmarks import print_table, write_result
from filot_gate import corpus
from selftests.sandbox_fixture import start_private_sandbox, stop_private_sandbox
from selftests.test_reliability import api_url, db, scale_worker, token, upload, wait_all_decided

def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run_batch(sandbox, count: int, workers: int) -> dict:
    """Upload ``count`` clean KTPs at once with ``workers`` OCR worker tasks; latency from the DB."""
    import httpx

    scale_worker(sandbox, workers)
    card = corpus.first("KTP", "auto_approve")
    bearers = [token(sandbox, f"bench-{workers}-{n}") for n in range(max(1, count // 50 + 1))]
    started = time.monotonic()
    with httpx.Client(base_url=api_url(sandbox), timeout=120) as client, ThreadPoolExecutor(8) as pool:
        ids = [r.json()["documentId"] for r in pool.map(lambda n: upload(client, bearers[n % len(bearers)], card), range(count))]
    statuses = wait_all_decided(sandbox, ids, deadline_s=60 + count * 10)
    wall = time.monotonic() - started
    with db(sandbox) as conn:
        rows = conn.execute(
            "SELECT EXTRACT(EPOCH FROM max(h.changed_at) - d.created_at) FROM documents d"
            " JOIN document_status_history h ON h.document_id = d.id WHERE d.id = ANY(%s::uuid[]) GROUP BY d.id",
            (ids,)).fetchall()
    latencies = [float(r[0]) for r in rows]
    return {
        "documents": count, "workers": workers, "decided": sum(1 for s in statuses.values() if s == "auto_approved"),
        "wallS": round(wall, 1), "throughputDocsPerS": round(count / wall, 2),
        "latencyS": {"p50": round(percentile(latencies, 0.5), 2), "p95": round(percentile(latencies, 0.95), 2),
                     "max": round(max(latencies), 2), "mean": round(statistics.mean(latencies), 2)},
    }


def run_workflows(sandbox, count: int) -> dict:
    """``count`` evaluations of one approved document, one after the other: each run's start-to-completed time."""
    import httpx

    from filot_gate.temporal_runs import TemporalConnection, follow_run
    from filot_gate.tokens import sign_token

    with db(sandbox) as conn:
        document_id = str(conn.execute("SELECT id FROM documents WHERE verification_status = 'auto_approved' LIMIT 1").fetchone()[0])
    config = sandbox.config
    connection = TemporalConnection(config.temporal_endpoint, config.temporal_namespace, tls=False)
    admin = sign_token(sandbox.credentials["JWT_SECRET"], "bench-admin", role="admin")
    seconds = []
    with httpx.Client(base_url=api_url(sandbox), timeout=30, headers={"Authorization": f"Bearer {admin}"}) as client:
        for _ in range(count):
            started = time.monotonic()
            ids = client.post("/verification/evaluate", json={"documentId": document_id}).json()
            run = follow_run(connection, ids["workflowId"], ids["runId"], deadline_s=60, poll_s=0.05)
            if run.status != "COMPLETED":
                raise RuntimeError(f"benchmark workflow did not complete: {run.explain()}")
            seconds.append(time.monotonic() - started)
    return {"runs": count, "completedS": {"p50": round(percentile(seconds, 0.5), 3), "p95": round(percentile(seconds, 0.95), 3),
                                          "max": round(max(seconds), 3)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.e2e", description=__doc__)
    parser.add_argument("--documents", type=int, default=100, help="KTPs per throughput batch (default 100)")
    parser.add_argument("--workflows", type=int, default=20, help="Temporal evaluations to time (default 20)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    sandbox = start_private_sandbox()
    cold_start = time.monotonic() - started
    try:
        single = run_batch(sandbox, 10, workers=1)
        batches = [run_batch(sandbox, args.documents, workers=n) for n in (1, 2)]
        workflows = run_workflows(sandbox, args.workflows) if sandbox.config.temporal else None
    finally:
        stop_private_sandbox(sandbox)
    result = {"coldStartS": round(cold_start, 1), "warmup10Docs1Worker": single, "batches": batches,
              "temporalWorkflows": workflows,
              "command": f"python -m benchmarks.e2e --documents {args.documents} --workflows {args.workflows}"}
    out = write_result("e2e", result)
    print(f"cold start {result['coldStartS']} s")
    print_table(("docs", "workers", "decided", "wall s", "docs/s", "p50 s", "p95 s", "max s"),
                [(b["documents"], b["workers"], b["decided"], b["wallS"], b["throughputDocsPerS"], b["latencyS"]["p50"],
                  b["latencyS"]["p95"], b["latencyS"]["max"]) for b in [single, *batches]])
    if workflows:
        lat = workflows["completedS"]
        print(f"Temporal: {workflows['runs']} evaluations, POST -> COMPLETED p50 {lat['p50']} s, p95 {lat['p95']} s,"
              f" max {lat['max']} s")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
