"""Where a gate run's output goes: the report files pytest.ini asks for, and the live log.

A run that only shows what would run (``--collect-only``, ``--fixtures``, ``--setup-plan``) writes no
report, so the last real run's sign-off evidence stays as it was. A run told to report elsewhere
(``--gate-reports``, ``[reports] dir``) writes the HTML, junit and allure reports there too.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

#: pytest options that only show what would run: no target, lock, verdict or report files
LOOK_ONLY_OPTIONS = ("collectonly", "showfixtures", "show_fixtures_per_test", "setupplan")
#: the report files of pytest-html, junitxml and allure
REPORT_FILE_OPTIONS = ("htmlpath", "xmlpath", "allure_report_dir")
#: where pytest.ini puts them, relative to the rootdir
DEFAULT_REPORTS_DIR = "reports"
#: Loggers whose INFO lines (one per HTTP request) would drown the live progress; they stay in each
#: test's captured log in the reports.
CHATTY_LOGGERS = ("httpx", "httpcore")


def looks_only(config: pytest.Config) -> bool:
    return any(getattr(config.option, name, False) for name in LOOK_ONLY_OPTIONS)


def write_no_reports(config: pytest.Config) -> None:
    for name in REPORT_FILE_OPTIONS:
        setattr(config.option, name, None)


def move_report_files(config: pytest.Config, reports_dir: Path) -> None:
    """Re-root report paths under the default reports folder into ``reports_dir`` (a path already
    inside ``reports_dir`` stays: ``--gate-reports=reports/smoke --junitxml=reports/smoke/junit.xml``)."""
    default = Path(config.rootpath, DEFAULT_REPORTS_DIR)
    if reports_dir == default:
        return
    for name in REPORT_FILE_OPTIONS:
        value = getattr(config.option, name, None)
        path = Path(config.invocation_params.dir, value) if value else None
        if path is not None and path.is_relative_to(default) and not path.is_relative_to(reports_dir):
            setattr(config.option, name, str(reports_dir / path.relative_to(default)))


def quiet_live_request_logs(config: pytest.Config) -> None:
    """Keep request-per-line INFO logs off the live terminal (``log_cli``); warnings still show."""
    logging_plugin = config.pluginmanager.get_plugin("logging-plugin")
    handler = getattr(logging_plugin, "log_cli_handler", None)
    if handler is not None:
        handler.addFilter(lambda record: record.levelno >= logging.WARNING
                          or not record.name.startswith(CHATTY_LOGGERS))
