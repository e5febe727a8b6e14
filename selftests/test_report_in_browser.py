"""The sign-off report opens in a real browser (headless Chromium) without console errors and shows
the verdict, the gates, the rollback and each test's evidence next to its failure."""

from __future__ import annotations

import shutil
import subprocess

import pytest

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed: run `make setup` (Debian package chromium)")


def render(report, profile_dir) -> subprocess.CompletedProcess:
    """The DOM after the report's JavaScript ran, and the browser's log with console messages."""
    return subprocess.run(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile_dir}",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom", report.as_uri()],
        capture_output=True, text=True, timeout=120,
    )


def test_gate_report_renders_without_console_errors(gate_project, tmp_path):
    pytester = gate_project(test_gate="""
        import pytest

        @pytest.mark.preflight
        def test_redis(evidence):
            evidence.add("CONFIG GET maxmemory-policy", {"maxmemory-policy": "allkeys-lru"})
            evidence.add("keys evicted", 0)  # a bare number is evidence too
            assert False, "Redis maxmemory-policy: expected noeviction, got allkeys-lru"

        @pytest.mark.e2e
        def test_upload():
            pass
    """)
    pytester.runpytest("--html=reports/gate-report.html", "--self-contained-html")
    report = pytester.path / "reports" / "gate-report.html"
    result = render(report, tmp_path / "chromium-profile")
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    errors = [line for line in console if "Uncaught" in line or "Error" in line]
    assert errors == [], f"browser console errors in {report.name}:\n" + "\n".join(errors)
    dom = result.stdout
    rows_in_file = report.read_text().count('class="results-table-row')
    rows_rendered = dom.count('class="results-table-row')
    assert rows_rendered >= rows_in_file + 2, (
        f"the report's JavaScript did not render the results table ({rows_rendered} rows in the DOM, {rows_in_file} in the file)"
    )
    for expected in ("FiLot deployment gate: target unit, run ", "Verdict: NO-GO", "preflight", "blocked", "Rollback (plan)",
                     "expected noeviction, got allkeys-lru", "CONFIG GET maxmemory-policy", "keys evicted",
                     "test_upload"):
        assert expected in dom, f"the rendered report lacks {expected!r}"
