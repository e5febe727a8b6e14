#!/usr/bin/env bash
# Seed 000 section 7, "Smoke tests & E2E validation": runs the e2e gate (pytest -m e2e) against a
# deployed FiLot and prints the result of each smoke step, with the first failure message of a
# failed step. The full evidence is in the HTML report it names.
#
# Usage: scripts/smoke/run_e2e_smoke.sh [--target=NAME|PATH] [other pytest options, e.g. -n 2]
# Env:   PYTHON (default .venv/bin/python), FILOT_GATE_REPORTS (default reports/smoke)
# Exit:  the gate's status: 0 only when every e2e test passed (or was skipped with a reason).
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-.venv/bin/python}
reports=${FILOT_GATE_REPORTS:-reports/smoke}
mkdir -p "$reports"

status=0
"$python" -m pytest -m e2e --gate-reports="$reports" --junitxml="$reports/junit.xml" \
    --html="$reports/gate-report.html" --alluredir="$reports/allure-results" "$@" || status=$?

"$python" - "$reports/junit.xml" <<'PY'
"""Each smoke step of seed 000 section 7 (and seed 002's security checks) with its tests' outcome."""
import sys
import xml.etree.ElementTree as ET

STEPS = [
    ("1 API health: GET /health -> ok", ["test_health."]),
    ("2 upload a real KTP -> document id", ["test_ktp_flow.test_upload_returns_a_document_id"]),
    ("3 job queued on filot:ocr:gpu:queue", ["test_ktp_flow.test_job_is_seen_on_the_gpu_queue"]),
    ("4 worker consumes it, publishes to filot:ocr:gpu:results", ["test_ktp_flow.test_worker_consumes"]),
    ("5 scored, verification_status in the DB", ["test_ktp_flow.test_backend_scores", "test_ktp_flow.test_parsed_fields",
                                                 "test_decision_paths.", "test_npwp."]),
    ("6 BULI2 escalation, signed callback validated", ["test_buli2_review.", "test_callback_signatures."]),
    ("7 Temporal transitions (if used)", ["test_temporal."]),
    ("seed 002 section 6: security", ["test_auth.", "test_rate_limit.", "test_cors.", "test_input_validation."]),
]


def outcome(case):
    for kind in ("failure", "error"):
        found = case.find(kind)
        if found is not None:
            return "FAILED", (found.get("message") or "").splitlines()[0][:200]
    skipped = case.find("skipped")
    if skipped is not None:
        blocked = any(p.get("name") == "blocked_by" for p in case.iter("property"))
        return ("BLOCKED" if blocked else "SKIPPED"), (skipped.get("message") or "")[:200]
    return "PASSED", ""


try:
    cases = list(ET.parse(sys.argv[1]).getroot().iter("testcase"))
except (OSError, ET.ParseError) as error:
    sys.exit(f"smoke: no test results to report ({error})")
print("\nFiLot smoke steps (seed 000 section 7)")
for step, patterns in STEPS:
    mine = [(c, outcome(c)) for c in cases
            if any(p in f"{c.get('classname', '').rsplit('.', 1)[-1]}.{c.get('name')}" for p in patterns)]
    results = [o for _, (o, _) in mine]
    verdict = ("NOT RUN" if not mine else "FAILED" if "FAILED" in results else "BLOCKED" if "BLOCKED" in results
               else "SKIPPED" if set(results) == {"SKIPPED"} else "PASSED")
    counts = ", ".join(f"{results.count(r)} {r.lower()}" for r in ("PASSED", "FAILED", "SKIPPED", "BLOCKED") if r in results)
    print(f"  {verdict:<8} {step}  ({counts or 'no tests selected'})")
    for case, (result, message) in mine:
        if result in ("FAILED", "SKIPPED") and message:
            print(f"           {case.get('name')}: {message}")
        for prop in case.iter("property"):
            if prop.get("name") == "seen_by":
                print(f"           seen by: {prop.get('value')}")
PY
exit "$status"
