"""Which CloudWatch lines the gate counts as errors: JSON lines by their level field only (FiLot's own,
pino's names and numbers, python-json-logger's, ECS's), plain-text lines by an upper-case level word, a
Python traceback or what Node.js prints for an uncaught error."""

from __future__ import annotations

import json

import pytest

from filot_gate.log_levels import error_level


@pytest.mark.parametrize(("line", "level"), [
    (json.dumps({"level": "error", "msg": "dropping malformed OCR result"}), "error"),
    (json.dumps({"level": "CRITICAL", "msg": "out of memory"}), "CRITICAL"),
    (json.dumps({"level": 50, "msg": "pino error"}), "level 50"),
    (json.dumps({"level": 60, "msg": "pino fatal"}), "level 60"),
    (json.dumps({"severity": "ERROR", "message": "structured"}), "ERROR"),
    ("ERROR:    Exception in ASGI application", "ERROR"),
    ("Traceback (most recent call last):", "Traceback (most recent call last):"),
    ("2026-12-07 17:00:00 FATAL could not bind port 8080", "FATAL"),
    (json.dumps({"levelname": "ERROR", "message": "python-json-logger"}), "ERROR"),
    (json.dumps({"log.level": "error", "message": "ECS flat"}), "error"),
    (json.dumps({"log": {"level": "error"}, "message": "ECS nested"}), "error"),
    ("TypeError: Cannot read properties of undefined (reading 'id')", "TypeError: "),
    ("Error [ERR_STREAM_PREMATURE_CLOSE]: Premature close", "Error [ERR_STREAM_PREMATURE_CLOSE]: "),
    ("Uncaught ReferenceError: x is not defined", "Uncaught ReferenceError: "),
    ("[ioredis] Unhandled error event: Error: connect ECONNREFUSED 127.0.0.1:6379", "Unhandled error event"),
    ("(node:17) UnhandledPromiseRejectionWarning: Error: boom", "UnhandledPromiseRejection"),
    ("npm ERR! code ELIFECYCLE", "npm ERR!"),
])
def test_a_line_at_error_level_is_an_error_line(line, level):
    assert error_level(line) == level


@pytest.mark.parametrize("line", [
    json.dumps({"level": "info", "msg": "OCR text: ERROR KTP NIK"}),  # the word in an info line's text
    json.dumps({"level": "warning", "msg": "OCR result unknown_document"}),
    json.dumps({"level": 40, "msg": "pino warn"}),
    json.dumps({"level": True, "msg": "not a level"}),
    json.dumps({"msg": "ERROR without a level field"}),
    "INFO:     127.0.0.1:34986 - \"GET /health HTTP/1.1\" 200 OK",
    "error handling is enabled",  # lower-case prose, not a level
    json.dumps({"log": {"level": "info"}, "message": "ECS nested info"}),
    "    at Object.<anonymous> (/app/server.js:10:5)",  # a stack frame: its first line counted already
    "retrying after Error: the last attempt failed",  # an error named mid-line in an info text
])
def test_a_line_below_error_level_is_not_one(line):
    assert error_level(line) is None
