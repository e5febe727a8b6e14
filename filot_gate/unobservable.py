"""Errors that mean the gate could not observe the target, told in a few lines.

A check that cannot reach Redis, PostgreSQL, AWS or the API, or whose credentials AWS refuses, ends as
an error, and the run is inconclusive (DESIGN section 4). The on-call engineer needs to know what could
not be reached and from which check, not sixty lines of a client library's frames. Any other
exception keeps pytest's full traceback (that one is a bug in a check or a bad artifact, and its frames
are what the gate's developers need), and so does every error under ``--full-trace``.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

#: AWS error codes that say the gate's credentials or rate, not the deployment, are the problem.
AWS_ACCESS_ERRORS = frozenset({
    "ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidClientTokenId",
    "UnrecognizedClientException", "AccessDenied", "AccessDeniedException",
    "Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
})


def _unobservable_types() -> tuple[type[BaseException], ...]:
    """Exception types of the gate's clients that say "could not reach or read"."""
    import botocore.exceptions as aws
    import httpx
    import psycopg
    import redis

    from filot_gate.target import TargetUnavailable

    return (
        TargetUnavailable,
        ConnectionError,  # the builtin: refused, reset, aborted
        socket.gaierror,
        redis.ConnectionError,  # AuthenticationError too: the check could not read with the secret's password
        redis.TimeoutError,
        psycopg.OperationalError,
        httpx.ConnectError,
        httpx.ConnectTimeout,
        httpx.PoolTimeout,
        aws.ConnectionError,
        aws.HTTPClientError,
        aws.NoCredentialsError,
        aws.PartialCredentialsError,
        aws.CredentialRetrievalError,
        aws.TokenRetrievalError,
        aws.UnauthorizedSSOTokenError,
        aws.ProfileNotFound,
    )


def is_unobservable(exc: BaseException) -> bool:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in AWS_ACCESS_ERRORS
    return isinstance(exc, _unobservable_types())


def short_report(excinfo: pytest.ExceptionInfo[BaseException], item: pytest.Item) -> str | None:
    """The report of an error the gate could not observe through; None for any other exception.

    Names what was asked (an HTTP request's method and URL) and the line that was running: the test
    function's, else the deepest one of the gate's own code (a fixture failing in set-up).
    """
    exc = excinfo.value
    if not is_unobservable(exc) or item.config.option.fulltrace:
        return None
    lines = [f"could not observe the target: {type(exc).__module__}.{type(exc).__qualname__}: {exc}{_request(exc)}"]
    if entry := _where(excinfo, item):
        path = Path(entry.path)
        shown = path.relative_to(item.config.rootpath) if path.is_relative_to(item.config.rootpath) else path
        lines.append(f"  in {shown}:{entry.lineno + 1}: {str(entry.statement).strip()}")
    lines.append("  (--full-trace shows the client's frames)")
    return "\n".join(lines)


def suppress_client_context(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """A ``pytest.fail`` raised while handling a client error names that error in its message;
    its traceback would only repeat it under the library's frames."""
    context = excinfo.value.__context__
    if excinfo.errisinstance(pytest.fail.Exception) and context is not None and is_unobservable(context):
        excinfo.value.__suppress_context__ = True


def _request(exc: BaseException) -> str:
    """`` (GET http://...)`` for an httpx error that knows its request."""
    try:
        request = exc.request  # type: ignore[attr-defined]  # httpx raises RuntimeError when unset
    except (AttributeError, RuntimeError):
        return ""
    return f" ({request.method} {request.url})"


def _where(excinfo: pytest.ExceptionInfo[BaseException], item: pytest.Item):
    """The test function's frame; else the deepest frame of a test module or conftest (a fixture)."""
    test_name = getattr(item, "originalname", item.name)
    checks = [entry for entry in excinfo.traceback if _is_check_code(Path(entry.path), item.config.rootpath)]
    in_test = [entry for entry in checks if Path(entry.path) == item.path and entry.frame.code.name == test_name]
    return (in_test or checks or [None])[-1]


def _is_check_code(path: Path, rootpath: Path) -> bool:
    """Test modules and conftests of the run, not this package nor installed libraries."""
    return (path.is_relative_to(rootpath) and not path.is_relative_to(_PACKAGE)
            and not {".venv", "site-packages"} & set(path.parts))


_PACKAGE = Path(__file__).resolve().parent
