"""Logging helpers of the API on top of ``sandbox.jsonlog`` (JSON lines on stdout).

Nothing here knows a secret, and callers never pass one: URLs go through ``without_credentials``.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sandbox.jsonlog import fields

SERVICE = "filot-api"


def event(logger: logging.Logger, level: int, msg: str, **data: Any) -> None:
    """Log ``msg`` with structured ``data`` merged into its JSON line."""
    logger.log(level, msg, extra=fields(**data))


def without_credentials(url: str) -> str:
    """``scheme://user:secret@host/...`` -> ``scheme://host/...`` for log lines and error bodies."""
    parts = urlsplit(url)
    if parts.hostname is None:
        return parts.scheme + "://?"
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def one_line(error: BaseException) -> str:
    """An exception's message on one line (driver errors span several), or its type when empty."""
    return " ".join(str(error).split()) or type(error).__name__
