"""Errors that mean the gate could not observe the target, told in a few lines.

A check that cannot reach Redis, PostgreSQL, AWS or the API ends as an error, and the run is
inconclusive (DESIGN section 4). The on-call engineer needs to know what could not be reached and from
which check, not sixty lines of a client library's frames. Any other exception keeps pytest's full
traceback: that one is a bug in a check, and its frames are what the gate's developers need.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def unobservable_errors() -> tuple[type[BaseException], ...]:
    """Exception types of the gate's clients that say "could not reach or read", not "wrong"."""
    import botocore.exceptions
    import httpx
    import psycopg
    import redis

    from filot_gate.target import TargetUnavailable

    return (
        TargetUnavailable,
        OSError,
        redis.ConnectionError,
        redis.TimeoutError,
        psycopg.OperationalError,
        httpx.TransportError,
        botocore.exceptions.EndpointConnectionError,
        botocore.exceptions.ConnectTimeoutError,
        botocore.exceptions.ReadTimeoutError,
        botocore.exceptions.NoCredentialsError,
    )


def short_report(excinfo: pytest.ExceptionInfo[BaseException], item: pytest.Item) -> str | None:
    """The report of an error the gate could not observe through; None for any other exception.

    Names the line of the test function that was running (none when a fixture failed in set-up).
    """
    if not excinfo.errisinstance(unobservable_errors()):
        return None
    exc = excinfo.value
    lines = [f"could not observe the target: {type(exc).__module__}.{type(exc).__qualname__}: {exc}"]
    test_name = getattr(item, "originalname", item.name)
    in_test = [entry for entry in excinfo.traceback
               if Path(entry.path) == item.path and entry.frame.code.name == test_name]
    if in_test:
        entry = in_test[-1]
        lines.append(f"  in {item.path.name}:{entry.lineno + 1}: {str(entry.statement).strip()}")
    return "\n".join(lines)
