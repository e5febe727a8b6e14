"""The API under load: the gate's load check's traffic (``filot_gate.load``: each user on its own connection,
status polls and /health) with more and more users at once, against a private sandbox (two backend tasks
behind the sandbox's ALB). Per step: requests/s, latency p50/p95/max, and the answers that were not a
single user's. ``python -m benchmarks.api_load [--users 1,10,20,50,100] [--requests 20]`` writes
benchmarks/results/api-load-<host>.json and prints a table. Numbers only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

from benchmarks import print_table, write_result
from filot_gate import load
from filot_gate.target import http_client
from selftests.sandbox_fixture import start_private_sandbox, stop_private_sandbox
from selftests.test_reliability import api_url


def step(base_url: str, users: int, requests: int) -> dict:
    """``users`` at once, ``requests`` each: throughput, latency and unexpected answers."""
    started = time.monotonic()
    traffic = load.run(users, load.read_only_session(requests), partial(http_client, base_url))
    wall = time.monotonic() - started
    return {"users": users, "requests": len(traffic.answers), "wallS": round(wall, 2),
            "requestsPerS": round(len(traffic.answers) / wall, 1), "latencyMs": traffic.latency_ms(),
            "unexpected": len(traffic.unexpected()), "answers": traffic.counts()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api_load", description=__doc__)
    parser.add_argument("--users", default="1,10,20,50,100", help="users at once, one step each (default 1,10,20,50,100)")
    parser.add_argument("--requests", type=int, default=20, help="requests per user in each step (default 20)")
    args = parser.parse_args(argv)
    try:
        steps = [int(n) for n in args.users.split(",")]
    except ValueError:
        steps = []
    if not steps or min(steps) < 1:
        parser.error(f"--users: expected positive whole numbers separated by commas, got {args.users!r}")
    if args.requests < 1:
        parser.error(f"--requests: expected a positive whole number, got {args.requests}")
    sandbox = start_private_sandbox()
    try:
        load.run(4, load.read_only_session(4), partial(http_client, api_url(sandbox)))  # warm-up
        results = [step(api_url(sandbox), users, args.requests) for users in steps]
    finally:
        stop_private_sandbox(sandbox)
    out = write_result("api-load", {
        "steps": results, "command": f"python -m benchmarks.api_load --users {args.users} --requests {args.requests}"})
    print_table(("users", "requests", "wall s", "req/s", "p50 ms", "p95 ms", "max ms", "unexpected"),
                [(s["users"], s["requests"], s["wallS"], s["requestsPerS"], *s["latencyMs"].values(), s["unexpected"])
                 for s in results])
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
