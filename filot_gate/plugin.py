"""The gate's pytest plugin: options, markers, order, blocking, verdict, rollback trigger, masking,
summary. Thin on purpose: each concern lives in its own module; run state lives on ``config.stash``.

Active only when the ini sets ``filot_gate = true`` (the repository's pytest.ini does), so that
the project's own selftests and other projects in the same environment are not gated.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest

from filot_gate import gates, outputs
from filot_gate.gates import GATE_DESCRIPTIONS, GATES
from filot_gate.interrupts import RunInterrupts
from filot_gate.ledger import Ledger, Outcome
from filot_gate.redact import Redactor, mask_log_records
from filot_gate.settings import ROLLBACK_MODES, GateSettings, find_profile, load_profile, option_flag, resolve
from filot_gate.unobservable import short_report, suppress_client_context

if TYPE_CHECKING:
    from filot_gate.evidence import Evidence
    from filot_gate.lock import LockState
    from filot_gate.rollback import RollbackAction
    from filot_gate.target import Target, TargetProcess

log = logging.getLogger("filot_gate")

BLOCKED_BY = "blocked_by"
FAILURE_KIND = "filot_failure_kind"


@dataclass
class GateRun:
    """Everything one gate run knows; one per process (controller or xdist worker)."""

    settings: GateSettings
    run_id: str
    redactor: Redactor
    ledger: Ledger
    is_worker: bool
    #: ``--collect-only``, ``--fixtures``, ``--setup-plan``: show what would run, but start no target,
    #: take no lock, decide nothing and leave the last real run's reports alone
    look_only: bool = False
    started_at: float = field(default_factory=time.time)
    gate_of: dict[str, str] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    verdict: str | None = None
    #: SIGTERM, the deadline, Ctrl-C: set up by the controller (None in workers and look-only runs)
    interrupts: RunInterrupts | None = None
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    failures: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    skip_reasons: dict[str, list[str]] = field(default_factory=dict)
    block_reasons: dict[str, str] = field(default_factory=dict)
    timing: dict[str, list[float]] = field(default_factory=dict)
    rollback: "list[RollbackAction]" = field(default_factory=list)
    lock: "LockState | None" = None
    target_process: "TargetProcess | None" = None
    summary_path: Path | None = None
    target: "Target | None" = None
    unmask_logs: Callable[[], None] = lambda: None

    @property
    def controls_session(self) -> bool:
        """Whether this process starts the target, takes the lock and decides (the controller of a real run)."""
        return not self.is_worker and not self.look_only


run_key = pytest.StashKey[GateRun]()
evidence_key = pytest.StashKey["Evidence"]()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from filot_gate import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("filot-gate", "FiLot deployment gate")
    group.addoption("--target", dest="filot_target", default=None, metavar="NAME|PATH",
                    help="profile name in profiles/ or a path to a profile TOML (env FILOT_GATE_TARGET; default: local)")
    group.addoption("--rollback", dest="filot_rollback", default=None, choices=ROLLBACK_MODES,
                    help="what a no-go does: off, plan (print the exact AWS calls, change nothing) or auto (env FILOT_GATE_ROLLBACK)")
    group.addoption("--deploy-record", dest="filot_deploy_record", default=None, metavar="PATH",
                    help="deploy record written by the deploy step: expected ARNs and digests (env FILOT_GATE_DEPLOY_RECORD)")
    group.addoption("--gate-deadline", dest="filot_gate_deadline", default=None, metavar="SECONDS",
                    help="deadline of the whole run; on expiry the run stops and rolls back a post-deploy failure (env FILOT_GATE_DEADLINE)")
    group.addoption("--run-id", dest="filot_run_id", default=None,
                    help="id of this run, tagged on synthetic data and reports (env FILOT_GATE_RUN_ID; default: generated)")
    group.addoption("--keep-target", dest="filot_keep_target", action="store_const", const=True, default=None,
                    help="leave a target the gate started (the local sandbox) running afterwards (env KEEP_SANDBOX=1)")
    group.addoption("--gate-reports", dest="filot_gate_reports", default=None, metavar="DIR",
                    help="where summary.json and the run's files go (env FILOT_GATE_REPORTS; default: reports)")
    parser.addini("filot_gate", type="bool", default=False,
                  help="turn the FiLot gate on for this rootdir (ordering, blocking, verdict, rollback)")
    parser.addini("filot_profiles_dir", default="profiles", help="directory of target profiles, relative to rootdir")


#: the dests of the gate's command-line options
GATE_OPTION_DESTS = ("filot_target", "filot_rollback", "filot_deploy_record", "filot_gate_deadline", "filot_run_id",
                     "filot_keep_target", "filot_gate_reports")


@pytest.hookimpl(tryfirst=True)  # before pytest-html, junitxml and allure read their report options
def pytest_configure(config: pytest.Config) -> None:
    for gate in GATES:
        config.addinivalue_line("markers", f"{gate}: {GATE_DESCRIPTIONS[gate]} (gate {GATES.index(gate) + 1} of 4)")
    if config.option.help or config.option.version:
        return  # --help and --version need no profile, credentials or target
    if not config.getini("filot_gate"):
        _refuse_gate_options_without_the_gate(config)
        return
    settings = _load_settings(config)
    look_only = outputs.looks_only(config)
    if look_only:
        outputs.write_no_reports(config)
    else:
        outputs.move_report_files(config, Path(config.rootpath, settings.reports_dir))
    is_worker = hasattr(config, "workerinput")
    run_id = _run_id(config, is_worker)
    run_dir = Path(config.rootpath, settings.reports_dir, ".runs", run_id)
    shared = (is_worker or bool(getattr(config.option, "numprocesses", None))) and not look_only
    if shared:
        run_dir.mkdir(parents=True, exist_ok=True)
    run = GateRun(
        settings=settings,
        run_id=run_id,
        redactor=Redactor(),
        ledger=Ledger(run_dir / "ledger.jsonl" if shared else None),
        is_worker=is_worker,
        look_only=look_only,
    )
    config.stash[run_key] = run
    run.unmask_logs = mask_log_records(run.redactor)
    if run.controls_session:
        _describe_environment(config, run)
        deadline = settings.values["gate_deadline"]
        run.interrupts = RunInterrupts(deadline.value, deadline.source)
        run.interrupts.install()
    config.pluginmanager.register(GatePlugin(config, run), "filot-gate-run")


def _refuse_gate_options_without_the_gate(config: pytest.Config) -> None:
    """Gate options where the gate is off: most often ``--target PATH`` written with a space, whose PATH
    pytest took for a test path (choosing rootdir and ini from it) before it knew the option."""
    given = [option_flag(dest) for dest in GATE_OPTION_DESTS
             if config.getoption(dest) is not None]
    if given:
        raise pytest.UsageError(
            f"{', '.join(given)} given, but the FiLot gate is off: no ini file with filot_gate = true was found"
            f" (rootdir {config.rootpath}, ini {config.inipath or 'none'}). Write path options with '='"
            f" (--target=PATH, --deploy-record=PATH): with a space pytest takes PATH for a test path and picks its"
            f" rootdir from it. Run from the gate's checkout."
        )


def _load_settings(config: pytest.Config) -> GateSettings:
    if target := config.getoption("filot_target"):
        source = "--target"
    elif target := os.environ.get("FILOT_GATE_TARGET"):
        source = "env FILOT_GATE_TARGET"
    else:
        target, source = "local", "default target"
    profiles_dir = Path(config.rootpath, config.getini("filot_profiles_dir"))
    profile = load_profile(find_profile(target, profiles_dir, source))
    options = {name: config.getoption(name) for name in GATE_OPTION_DESTS if name not in ("filot_target", "filot_run_id")}
    settings = resolve(profile, options, os.environ)
    _require_given_deploy_record(config, settings)
    return settings


def _require_given_deploy_record(config: pytest.Config, settings: GateSettings) -> None:
    """A record named by an option or the environment must exist: every post-deploy check reads it, and
    a typo would otherwise surface as one set-up error per test."""
    setting, path = settings.values["deploy_record"], settings.deploy_record_path(config.rootpath)
    if path is None or not setting.given_by_caller:
        return
    if not path.is_file():
        raise pytest.UsageError(
            f"setting deploy_record ({setting.source}): {path} does not exist; give the record the deploy step"
            f" wrote (python -m filot_gate.deploy deploy), or leave it out for a run before the deploy"
        )


def _run_id(config: pytest.Config, is_worker: bool) -> str:
    if is_worker:
        return config.workerinput["filot_run_id"]
    return (
        config.getoption("filot_run_id")
        or os.environ.get("FILOT_GATE_RUN_ID")
        or time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    )


def _describe_environment(config: pytest.Config, run: GateRun) -> None:
    """Put the target and each setting with its source into the report's environment table."""
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:
        return
    metadata = config.stash.setdefault(metadata_key, {})
    metadata["Gate run"] = run.run_id
    metadata["Target"] = f"{run.settings.target} ({run.settings.profile.path})"
    for name, setting in run.settings.values.items():
        if setting.value is not None:
            metadata[f"Setting {name}"] = f"{run.redactor.text(str(setting.value))}  [{setting.source}]"


def _report_header(run: GateRun) -> list[str]:
    lines = [f"filot-gate: run {run.run_id}, target {run.settings.target} ({run.settings.profile.path})"]
    for name, setting in run.settings.values.items():
        if setting.value is not None:
            lines.append(f"  {name} = {run.redactor.text(str(setting.value))}  [{setting.source}]")
    return lines


# --- collection: exactly one gate per test, gates in order -----------------------------------------


def _marker_problem(item: pytest.Item) -> str | None:
    found = sorted({m.name for m in item.iter_markers() if m.name in GATES})
    if len(found) == 1:
        return None
    return f"  {item.nodeid}: " + (f"has {', '.join(found)}" if found else "has none")


def gate_of(item: pytest.Item) -> str:
    return next(m.name for m in item.iter_markers() if m.name in GATES)


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> "Evidence":
    """Collect what this test saw; it appears next to the failure in every report, masked."""
    from filot_gate.evidence import Evidence

    run = request.config.stash[run_key]
    collected = Evidence(run.redactor)
    request.node.stash[evidence_key] = collected
    return collected


def _final_outcome(report: pytest.TestReport) -> str | None:
    """The outcome one phase decides: a skipped or failed phase, or the call phase; else None."""
    props = dict(report.user_properties)
    if report.skipped and report.when == "setup":
        return gates.BLOCKED if BLOCKED_BY in props else gates.SKIPPED
    if report.failed:
        return gates.FAILED if props.get(FAILURE_KIND) == "failed" else gates.ERROR
    if report.when == "call":
        return gates.SKIPPED if report.skipped else gates.PASSED
    return None


def _mask_report(report: pytest.TestReport, redactor: Redactor) -> None:
    if report.longrepr is not None and redactor.contains_secret(str(report.longrepr)):
        report.longrepr = redactor.text(str(report.longrepr))
    report.sections = [(title, redactor.text(text)) for title, text in report.sections]
    report.user_properties = [(k, redactor.any(v)) for k, v in report.user_properties]


class GatePlugin:
    """The hooks of one gate run (registered at configure, in the controller and in each worker)."""

    def __init__(self, config: pytest.Config, run: GateRun) -> None:
        self.config = config
        self.run = run

    def pytest_report_header(self) -> list[str]:
        return _report_header(self.run)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """xdist: every worker joins the controller's run (same id, same ledger)."""
        node.workerinput["filot_run_id"] = self.run.run_id

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector):
        report = yield
        if report.passed:
            problems = [p for item in report.result if isinstance(item, pytest.Item) if (p := _marker_problem(item))]
            if problems:
                report.outcome = "failed"
                report.longrepr = "gate markers: every test needs exactly one of " + ", ".join(GATES) + ":\n" + "\n".join(problems)
                report.result = []
        return report

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        items.sort(key=lambda item: GATES.index(gate_of(item)))  # stable: file order kept within a gate

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.run.order = [item.nodeid for item in session.items]
        self.run.gate_of = {item.nodeid: gate_of(item) for item in session.items}
        if self.run.is_worker:
            self.run.ledger.record_collection(self.run.gate_of)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        outputs.quiet_live_request_logs(self.config)
        if self.run.controls_session:
            from filot_gate.session import start_session

            start_session(self.config, self.run)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Skip as blocked when an earlier gate failed; under xdist first wait for earlier gates."""
        run = self.run
        if self.config.getoption("setuponly", False):
            return  # --setup-only and --setup-plan call no test: no earlier outcome will come to wait for
        gate = run.gate_of[item.nodeid]
        earlier = [n for n in run.order if GATES.index(run.gate_of[n]) < GATES.index(gate)]
        outcomes = run.ledger.wait_for(earlier, run.settings.gate_deadline, log.info)
        for name in GATES[: GATES.index(gate)]:
            bad = [o for o in outcomes.values() if o.gate == name and o.outcome in (gates.FAILED, gates.ERROR)]
            if bad:
                item.stash[blocked_key] = name
                pytest.skip(f"blocked: gate {name} {bad[0].outcome} ({len(bad)} test(s), first {bad[0].nodeid}); not run")

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        if call.excinfo is not None:
            suppress_client_context(call.excinfo)
        report = yield
        if blocked := item.stash.get(blocked_key, None):
            report.user_properties.append((BLOCKED_BY, blocked))
        if report.failed:
            assertion = report.when == "call" and call.excinfo is not None and call.excinfo.errisinstance(
                (AssertionError, pytest.fail.Exception))
            report.user_properties.append((FAILURE_KIND, "failed" if assertion else "error"))
            if not assertion and call.excinfo is not None:
                report.longrepr = short_report(call.excinfo, item) or report.longrepr
        if report.when == "call" and (collected := item.stash.get(evidence_key, None)):
            report.extras = [*getattr(report, "extras", []), *collected.as_html_extras()]
        _mask_report(report, self.run.redactor)
        return report

    def _gate_of(self, nodeid: str) -> str | None:
        """A test's gate, from its marker as collected (not from its keywords, which hold the folder names
        too); an xdist controller collects nothing and reads its workers' collection."""
        if nodeid not in self.run.gate_of and not self.run.is_worker:
            self.run.gate_of.update(self.run.ledger.collection())
        return self.run.gate_of.get(nodeid)

    def pytest_report_teststatus(self, report: pytest.TestReport):
        """BLOCKED for a test an earlier gate blocked; ERROR (not FAILED) for a test that could not
        observe, so that pytest's own counts agree with the gate's ("1 failed, 3 error")."""
        kinds = dict(getattr(report, "user_properties", ()))  # a CollectReport has none
        if report.skipped and BLOCKED_BY in kinds:
            return "blocked", "B", "BLOCKED"
        if report.failed and report.when == "call" and kinds.get(FAILURE_KIND) == "error":
            return "error", "E", "ERROR"
        return None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        run = self.run
        gate = self._gate_of(report.nodeid)
        if gate is None:
            return
        outcome = _final_outcome(report)
        previous = run.outcomes.get(report.nodeid)
        if outcome is not None and (previous is None or previous.outcome == gates.PASSED):
            run.outcomes[report.nodeid] = Outcome(report.nodeid, gate, outcome)
        if report.when == "teardown" and report.nodeid in run.outcomes and (run.is_worker or run.ledger.path is None):
            # only now is the outcome final: a later gate's test waiting on it must see a teardown error
            run.ledger.record(run.outcomes[report.nodeid])
        if outcome is None:
            return
        if getattr(report, "start", None) is not None:
            span = run.timing.setdefault(gate, [report.start, report.stop])
            span[0], span[1] = min(span[0], report.start), max(span[1], report.stop)
        if outcome in (gates.FAILED, gates.ERROR):
            lines = report.longreprtext.strip().splitlines()
            run.failures.setdefault(gate, []).append(
                {"test": report.nodeid, "outcome": outcome, "phase": report.when,
                 "message": run.redactor.text("\n".join(lines[-15:]))})
        elif outcome in (gates.SKIPPED, gates.BLOCKED) and isinstance(report.longrepr, tuple):
            reason = run.redactor.text(str(report.longrepr[2]).removeprefix("Skipped: "))
            if outcome == gates.BLOCKED:
                run.block_reasons[report.nodeid] = reason
            else:
                run.skip_reasons.setdefault(gate, []).append(reason)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """Ctrl-C, a ``pytest.exit`` (the target did not start) or pytest stopping the session itself (errors
        during collection, ``-x``): say which in the summary."""
        if self.run.interrupts is not None:
            told = excinfo.errisinstance((pytest.exit.Exception, pytest.Session.Interrupted))
            self.run.interrupts.stopped(str(excinfo.value) if told else "Ctrl-C")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.run.controls_session:
            return
        if self.run.interrupts is not None:
            self.run.interrupts.finish()
        from filot_gate.session import finish_session

        session.exitstatus = finish_session(self.config, self.run, exitstatus)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.run.is_worker or self.run.verdict is None:
            return
        from filot_gate.session import terminal_summary

        terminal_summary(terminalreporter, self.run)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        """The sign-off document says what it is at the top (pytest-html asks before the verdict exists;
        the summary below the environment table gives it)."""
        report.title = f"FiLot deployment gate: target {self.run.settings.target}, run {self.run.run_id}"

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_summary(self, prefix: list, summary: list, postfix: list) -> None:
        if self.run.verdict is not None:
            from filot_gate.session import html_summary

            prefix.extend(html_summary(self.run))

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        try:
            if self.run.controls_session:
                if self.run.interrupts is not None:
                    self.run.interrupts.uninstall()
                from filot_gate.session import close_session

                close_session(config, self.run)
        finally:
            self.run.unmask_logs()


blocked_key = pytest.StashKey[str]()
