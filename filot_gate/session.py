"""What the controller does around the tests: bring the target up, take the lock, and at the end
decide the verdict, roll back, write summary.json and tell the operator in one line.
"""

from __future__ import annotations

import html
import json
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from filot_gate import __version__, gates, lock
from filot_gate.gates import GATES, GateTally
from filot_gate.rollback import EcsRollback, RollbackAction, RollbackTrigger, load_deploy_record
from filot_gate.target import Target, TargetProcess, TargetUnavailable

if TYPE_CHECKING:
    from filot_gate.plugin import GateRun

SUMMARY_NAME = "summary.json"


def start_session(config: pytest.Config, run: "GateRun") -> None:
    """Start the target if the profile says how and it is down; register secrets; take the lock."""
    settings = run.settings
    say = _say(config)
    run.target_process = TargetProcess.from_settings(settings, config.rootpath)
    if run.target_process is not None:
        say(f"filot-gate: checking target {settings.target} ...")
        try:
            found = run.target_process.ensure_up(deadline_s=settings.profile.get("deadlines.start_s", 600))
            say(f"filot-gate: target {settings.target}: {found}")
        except TargetUnavailable as exc:
            pytest.exit(f"filot-gate: {exc}", returncode=pytest.ExitCode.INTERRUPTED)
    target = Target(settings, run.redactor, config.rootpath)
    if settings.profile.get("masking.preload_secrets", True):
        _register_secrets(target, say)
    config.pluginmanager.register(
        EcsRollback(lambda: target, settings.gpu_rollback, settings.profile.get("deadlines.stable_s", 300)),
        "filot-gate-ecs-rollback",
    )
    if settings.profile.get("lock.enabled", True):
        try:
            run.lock = lock.acquire(target, settings.environment, run.run_id,
                                    settings.profile.get("lock.ttl_s", lock.DEFAULT_TTL_S))
        except lock.LockHeld as exc:  # a usage error: printed once, exit code 4, nothing decided
            raise pytest.UsageError(f"filot-gate: {exc}") from None
        say(f"filot-gate: lock {run.lock.key}: {run.lock.detail}")
    run.started_at = time.time()
    run.target = target


def _register_secrets(target: Target, say: Any) -> None:
    """Read every secret once so that masking knows all values, even those only workers load."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        count, unreadable = target.register_all_secrets()
    except (BotoCoreError, ClientError, TargetUnavailable) as exc:
        say(f"filot-gate: secrets not readable for masking ({type(exc).__name__}); preflight will report why")
        return
    say(f"filot-gate: {count} secret(s) under {target.secrets_prefix} registered for masking")
    for reason in unreadable:
        say(f"filot-gate: not registered for masking: {reason}; preflight will report why")


def finish_session(config: pytest.Config, run: "GateRun", exitstatus: int) -> int:
    """Verdict, rollback and summary.json; returns the run's exit code (0 only on go).

    A usage error found during collection (``-m`` naming an unknown marker) ran no test and judged
    nothing: no verdict, and the last run's summary.json stays as it was.
    """
    if exitstatus == pytest.ExitCode.USAGE_ERROR and not run.outcomes:
        _release_lock(run)
        return exitstatus
    interrupted = bool(run.interrupts and run.interrupts.interrupted) or exitstatus == pytest.ExitCode.INTERRUPTED
    tallies = _tallies(run)
    run.verdict = gates.verdict(tallies.values(), interrupted=interrupted)
    run.rollback = _roll_back_if_needed(config, run, tallies, interrupted)
    _accept_deploy_if_judged(config, run, tallies)
    _release_lock(run)  # after the rollback, which is the last mutation of the run
    run.summary_path = _write_summary(config, run, tallies, exitstatus, interrupted)
    if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        return exitstatus
    return pytest.ExitCode.OK if run.verdict == gates.GO else pytest.ExitCode.TESTS_FAILED


def _tallies(run: "GateRun") -> dict[str, GateTally]:
    not_required = set(run.settings.profile.get("gates.not_required", []) or [])
    tallies = {g: GateTally(g, required=g not in not_required) for g in GATES}
    for outcome in run.outcomes.values():
        tally = tallies[outcome.gate]
        tally.selected += 1
        setattr(tally, outcome.outcome, getattr(tally, outcome.outcome) + 1)
    for nodeid, gate in (run.gate_of or run.ledger.collection()).items():
        if nodeid not in run.outcomes:  # selected, but the run ended before it reported
            tallies[gate].selected += 1
            tallies[gate].not_run += 1
    for gate, tally in tallies.items():
        tally.failures = run.failures.get(gate, [])
        tally.skip_reasons = run.skip_reasons.get(gate, [])
        if gate in run.timing:
            tally.started, tally.finished = run.timing[gate]
    return tallies


def _roll_back_if_needed(
    config: pytest.Config, run: "GateRun", tallies: dict[str, GateTally], interrupted: bool
) -> list[RollbackAction]:
    failing = next((t for t in tallies.values() if t.status == gates.FAILED), None)
    if failing is None and run.verdict == gates.INCONCLUSIVE and run.settings.rollback_on_inconclusive:
        failing = next((t for t in tallies.values() if t.status == gates.ERROR), None)
    if failing is None:
        return []
    mode = run.settings.rollback
    if mode == "off":
        return [RollbackAction("*", "off", "not-run", f"gate {failing.name} {failing.status}; rollback is off")]
    ttl_s = run.settings.profile.get("lock.ttl_s", lock.DEFAULT_TTL_S)
    if mode == "auto" and run.lock is not None and not lock.renew(run.target, run.lock, run.run_id, ttl_s):
        return [RollbackAction("*", mode, "refused", f"gate {failing.name} {failing.status}, but the gate lock was {run.lock.detail};"
                               f" another run may be deploying, so nothing was rolled back (--rollback=plan shows the calls)")]
    say = _say(config)
    try:
        record = load_deploy_record(run.settings.deploy_record_path(config.rootpath))
    except pytest.UsageError as exc:  # found at the end of the run: the summary must still be written
        return [RollbackAction("*", mode, "failed", f"gate {failing.name} {failing.status}, but {exc}")]
    trigger = RollbackTrigger(
        gate=failing.name,
        verdict=run.verdict,
        mode=mode,
        failures=failing.failures,
        deploy_record=record,
        interrupted=interrupted,
        progress=say,
    )
    say(f"filot-gate: gate {failing.name} {failing.status}: rollback ({mode}) ...")
    try:
        actions = config.hook.pytest_filot_gate_rollback(config=config, trigger=trigger)
    except Exception as exc:  # noqa: BLE001 - a broken rollback must still leave a summary behind
        return [RollbackAction("*", mode, "failed", f"rollback hook raised {type(exc).__name__}: {run.redactor.text(str(exc))}")]
    return actions or []


def _accept_deploy_if_judged(config: pytest.Config, run: "GateRun", tallies: dict[str, GateTally]) -> None:
    """Go on every post-deploy gate accepts the deploy the record names: no later failure undoes it.
    (A go of ``-m preflight`` alone judged the environment, not the deploy.)"""
    path = run.settings.deploy_record_path(config.rootpath)
    if run.verdict != gates.GO or path is None or not path.exists():
        return
    if any(tallies[gate].status != gates.PASSED for gate in gates.POST_DEPLOY_GATES):
        return
    from filot_gate.deploy import mark_accepted

    try:
        record = mark_accepted(path, run.run_id)
    except (ValueError, OSError) as exc:
        _say(config)(f"filot-gate: deploy record not marked accepted: {exc}")
        return
    _say(config)(f"filot-gate: deploy {record.run_id} accepted by this run (deploy record {path})")


def _write_summary(
    config: pytest.Config, run: "GateRun", tallies: dict[str, GateTally], exitstatus: int, interrupted: bool
) -> Path:
    finished = time.time()
    record_path = run.settings.deploy_record_path(config.rootpath)
    try:
        record = load_deploy_record(record_path)
    except pytest.UsageError as exc:
        record = {"error": str(exc)}
    summary: dict[str, Any] = {
        "runId": run.run_id,
        "target": run.settings.target,
        "environment": run.settings.environment,
        "verdict": run.verdict,
        "interrupted": interrupted,
        "interruptedBy": run.interrupts.reason if interrupted and run.interrupts else None,
        "startedAt": _iso(run.started_at),
        "finishedAt": _iso(finished),
        "durationS": round(finished - run.started_at, 1),
        "gates": {name: tally.as_dict() for name, tally in tallies.items()},
        "blocked": [
            {"test": o.nodeid, "gate": o.gate} for o in run.outcomes.values() if o.outcome == gates.BLOCKED
        ],
        "rollback": {"mode": run.settings.rollback, "actions": [a.as_dict() for a in run.rollback]},
        "deployRecord": record,
        "lock": run.lock.as_dict() if run.lock else None,
        "settings": {n: {"value": s.value, "source": s.source} for n, s in run.settings.values.items()},
        "versions": _versions(),
    }
    config.hook.pytest_filot_gate_summary(config=config, summary=summary)
    path = Path(config.rootpath, run.settings.reports_dir, SUMMARY_NAME)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run.redactor.any(summary), indent=2, default=str) + "\n")
    return path


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "filot-gate": __version__}
    for package in ("pytest", "pytest-xdist", "pytest-html", "allure-pytest", "boto3", "redis", "psycopg"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            continue
    return out


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def terminal_summary(terminalreporter: Any, run: "GateRun") -> None:
    """Gates, blocked tests, rollback and the verdict line, from the (masked) summary.json."""
    tr = terminalreporter
    data = json.loads(run.summary_path.read_text())
    tr.section("FiLot gate", sep="=", bold=True)
    for name, gate in data["gates"].items():
        counts = gate["counts"]
        detail = ", ".join(f"{counts[k]} {k}" for k in ("passed", "failed", "error", "skipped", "blocked") if counts[k])
        if counts["notRun"]:
            detail = ", ".join(filter(None, (detail, f"{counts['notRun']} not run")))
        tr.write_line(f"  {name:<10} {gate['status']:<13} {detail or '-'}  ({gate['durationS']}s)")
    if data["interrupted"]:
        tr.write_line(f"  interrupted: {data['interruptedBy'] or 'the run ended before every test ran'}", red=True)
    for blocked in data["blocked"]:
        tr.write_line(f"  BLOCKED {blocked['test']} - {run.redactor.text(run.block_reasons.get(blocked['test'], ''))}")
    for action in data["rollback"]["actions"]:
        tr.write_line(f"  rollback {action['service']}: {action['outcome']} ({action['mode']}) {action['detail']}")
        for call in action["calls"]:
            tr.write_line(f"      {call}")
    markup = {"green": True} if run.verdict == gates.GO else {"red": True}
    tr.write_line(f"VERDICT: {run.verdict.upper()}  run {run.run_id}, target {run.settings.target}; summary {run.summary_path}",
                  bold=True, **markup)


def html_summary(run: "GateRun") -> list[str]:
    """The verdict, the gates and the rollback at the top of the HTML report."""
    data = json.loads(run.summary_path.read_text())
    colour = "#2e7d32" if run.verdict == gates.GO else "#c62828"
    rows = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{html.escape(g['status'])}</td>"
        f"<td>{', '.join(f'{v} {k}' for k, v in g['counts'].items() if v and k != 'selected') or '-'}</td>"
        f"<td>{g['durationS']} s</td></tr>"
        for n, g in data["gates"].items()
    )
    actions = "".join(
        f"<li><b>{html.escape(a['service'])}</b>: {html.escape(a['outcome'])} ({html.escape(a['mode'])})"
        f" {html.escape(a['detail'])}{''.join(f'<br><code>{html.escape(c)}</code>' for c in a['calls'])}</li>"
        for a in data["rollback"]["actions"]
    ) or "<li>none</li>"
    return [
        f'<h2 style="color:{colour}">Verdict: {html.escape(run.verdict.upper())}</h2>',
        f"<p>Run {html.escape(run.run_id)} on target {html.escape(run.settings.target)}</p>",
        *([f"<p><b>Interrupted:</b> {html.escape(data['interruptedBy'] or 'before every test ran')}</p>"]
          if data["interrupted"] else []),
        f"<table><tr><th>Gate</th><th>Status</th><th>Tests</th><th>Duration</th></tr>{rows}</table>",
        f"<h3>Rollback ({html.escape(data['rollback']['mode'])})</h3><ul>{actions}</ul>",
    ]


def close_session(config: pytest.Config, run: "GateRun") -> None:
    """Release the lock, stop a target the gate started, and scrub every output file of secrets."""
    try:
        _release_lock(run)  # when the session ended before finish_session (an early exit)
        if run.target_process is not None and run.target_process.started and not run.settings.keep_target:
            say = _say(config)
            say(f"filot-gate: stopping target {run.settings.target} (started by this run; --keep-target keeps it)")
            try:
                run.target_process.shut_down()
            except TargetUnavailable as exc:
                say(f"filot-gate: {exc}; stop it by hand")
    finally:
        scrub_outputs(Path(config.rootpath, run.settings.reports_dir), run)


def _release_lock(run: "GateRun") -> None:
    if run.lock is not None and run.target is not None:
        lock.release(run.target, run.lock, run.run_id)


def scrub_outputs(reports_dir: Path, run: "GateRun") -> None:
    """Last line of defence: no registered secret value survives in any file the run wrote."""
    if not reports_dir.exists():
        return
    for path in reports_dir.rglob("*"):
        if not path.is_file() or path.stat().st_mtime < run.started_at - 1:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if run.redactor.contains_secret(text):
            path.write_text(run.redactor.text(text), encoding="utf-8")


def _say(config: pytest.Config):
    """Print a line for the operator, masked like every other output of the gate."""
    from filot_gate.plugin import run_key

    reporter = config.pluginmanager.get_plugin("terminalreporter")
    redactor = config.stash[run_key].redactor

    def say(line: str) -> None:
        line = redactor.text(line)
        if reporter is not None:
            reporter.write_line(line)
        else:
            print(line, file=sys.stderr)

    return say
