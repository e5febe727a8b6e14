"""Which CloudWatch lines the gate counts as errors: JSON lines by their level field only (FiLot's own,
pino's names and numbers), plain-text lines by an upper-case level word or a Python traceback."""

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
])
def test_a_line_below_error_level_is_not_one(line):
    assert error_level(line) is None
