"""Which log lines are errors, as an on-call engineer filtering CloudWatch for them means it (seed 004:
``aws logs tail /ecs/omen-epr --filter-pattern "ERROR"``).

A JSON line is judged by its level field only, so that an info line quoting the word "ERROR" (an OCR'd
card, a client's request) is not an error: ``level`` as FiLot's services and pino write it (names, or
pino's numbers: 50 error, 60 fatal), ``severity``, python-json-logger's ``levelname``, and the Elastic
Common Schema's ``log.level``. A plain-text line is an error when it carries an upper-case ERROR, FATAL or
CRITICAL word (uvicorn's ``ERROR:    Exception in ASGI application``), starts a Python traceback, or is
what Node.js prints for an uncaught error (``TypeError: ...``, ``Error [ERR_X]: ...``, an unhandled
rejection or error event, ``npm ERR!``).
"""

from __future__ import annotations

import json
import re

#: Level names that mark an error in JSON logs.
ERROR_LEVEL_NAMES = frozenset({"error", "fatal", "critical", "crit", "alert", "emerg", "emergency"})
#: The lowest numeric level that is an error (pino and bunyan: 50 error, 60 fatal).
NUMERIC_ERROR_LEVEL = 50
#: Fields a JSON log line keeps its level in, first found wins (``log.level`` may also be nested).
LEVEL_FIELDS = ("level", "severity", "levelname", "log.level")

_TEXT_ERROR = re.compile(
    r"\b(?:ERROR|FATAL|CRITICAL)\b"
    r"|^Traceback \(most recent call last\):"
    r"|^(?:Uncaught )?[A-Z]?[A-Za-z]*Error(?: \[[A-Z_]+\])?: "
    r"|Unhandled(?:PromiseRejection| error event| (?:promise )?rejection)"
    r"|\bnpm ERR!")


def error_level(line: str) -> str | None:
    """What makes ``line`` an error line (its level, or the word that marks it); None when it is not one."""
    record = _json_object(line)
    if record is None:
        match = _TEXT_ERROR.search(line)
        return match.group(0) if match else None
    level = next((record[f] for f in LEVEL_FIELDS if f in record), None)
    if level is None and isinstance(record.get("log"), dict):
        level = record["log"].get("level")
    if isinstance(level, bool):
        return None
    if isinstance(level, (int, float)):
        return f"level {level}" if level >= NUMERIC_ERROR_LEVEL else None
    if isinstance(level, str) and level.strip().lower() in ERROR_LEVEL_NAMES:
        return level
    return None


def _json_object(line: str) -> dict | None:
    if not line.lstrip().startswith("{"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None
