"""Typed settings read once from environment variables, with a one-line refusal on a bad value.

A service's settings are a frozen pydantic model whose fields carry the environment variable names
as aliases; ``load_or_exit`` validates ``os.environ`` against it. A bad or missing value prints one
line naming the variable, what was expected and what came (never the value of a secret) and exits
with status 2, without a traceback: the way a container should refuse a bad task definition.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import NoReturn, TypeVar
from urllib.parse import SplitResult, urlsplit

from pydantic import BaseModel, ValidationError

#: Exit status of a process that refuses its configuration (like argparse's usage errors).
EXIT_CONFIG = 2

M = TypeVar("M", bound=BaseModel)


def http_url(value: str) -> str:
    """A field validator: an http:// or https:// URL with a host."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL")
    check_port(parts)
    return value


def check_port(parts: SplitResult) -> None:
    """A URL's port, if it has one, is a number from 0 to 65535: read now, not at the first connect.

    The message does not quote the port: a password with an unescaped ``/`` or ``#`` ends the userinfo
    early, and its rest is then read as the port.
    """
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when it is read
    except ValueError:
        raise ValueError("expected a numeric port (0-65535) after the host; percent-encode '/', '?' or '#'"
                         " in a password") from None


def from_env(model: type[M], environ: Mapping[str, str]) -> M:
    """Validate the environment against ``model``; empty variables count as unset."""
    present = {name: value for name, value in environ.items() if value != ""}
    return model.model_validate(present)


def describe(error: ValidationError, secret_names: frozenset[str] = frozenset()) -> str:
    """One line per validation error, joined: ``NAME: problem (got 'value')``."""
    parts = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"])
        problem = item["msg"].removeprefix("Value error, ")
        if not name:  # a check across variables: its input is the whole environment
            parts.append(problem)
        elif item["type"] == "missing":
            parts.append(f"{name}: required but not set")
        elif name in secret_names:
            parts.append(f"{name}: {problem}")
        else:
            parts.append(f"{name}: {problem} (got {item['input']!r})")
    return "; ".join(parts)


def refuse(service: str, reason: str) -> NoReturn:
    """Print ``<service>: invalid configuration: <reason>`` on stderr and exit 2."""
    print(f"{service}: invalid configuration: {reason}", file=sys.stderr, flush=True)
    raise SystemExit(EXIT_CONFIG)


def load_or_exit(model: type[M], environ: Mapping[str, str], service: str, secret_names: frozenset[str] = frozenset()) -> M:
    """``from_env``, or ``refuse`` with every problem on one line."""
    try:
        return from_env(model, environ)
    except ValidationError as error:
        refuse(service, describe(error, secret_names))
