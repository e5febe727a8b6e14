"""Secret masking at one choke point: every value the gate loads from a secret store is registered
here, and every text the gate writes (reports, logs, assertion messages, attachments) passes through
``Redactor.text``. DSNs lose their password and presigned URLs their signature.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable

MASK = "********"
#: Shorter values are not masked as substrings (they would mangle ordinary text); secrets the gate
#: loads are long, and a short secret is itself a preflight failure.
MIN_SECRET_LENGTH = 6

_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@/\s]+)@", re.I)
_PRESIGNED_PARAMS = re.compile(
    r"(?P<name>X-Amz-(?:Signature|Credential|Security-Token)|Signature|AWSAccessKeyId|x-amz-security-token)=(?P<value>[^&\s\"']+)",
    re.I,
)


class Redactor:
    """Replaces registered secret values, URL passwords and presigned-URL signatures with a mask."""

    def __init__(self) -> None:
        #: each secret value, and what it is the value of (``filot/production/redis REDIS_PASSWORD``)
        self._secrets: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None

    def register(self, value: Any, label: str = "a secret") -> None:
        """Remember a secret value (and each value of a JSON secret, labelled with its key) so that it is
        never written; ``label`` names it where a finding must say which secret leaked, never its value."""
        if isinstance(value, dict):
            for key, item in value.items():
                self.register(item, f"{label} {key}")
            return
        if not isinstance(value, str):
            return
        if (password := _url_password(value)) is not None:
            value = password  # a URL stays readable (scheme, host, port); only its password is secret
        if len(value) < MIN_SECRET_LENGTH or value in self._secrets:
            return
        self._secrets[value] = label
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def found_in(self, text: str) -> list[str]:
        """The labels of the registered secret values ``text`` contains (sorted, each once)."""
        if self._pattern is None:
            return []
        return sorted({self._secrets[match.group()] for match in self._pattern.finditer(text)})

    @property
    def count(self) -> int:
        return len(self._secrets)

    def text(self, value: str) -> str:
        if not value:
            return value
        if self._pattern is not None:
            value = self._pattern.sub(MASK, value)
        value = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", value)
        return _PRESIGNED_PARAMS.sub(lambda m: f"{m['name']}={MASK}", value)

    def any(self, value: Any) -> Any:
        """Mask strings inside nested dicts, lists and tuples; other values pass through."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.any(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.any(v) for v in value)
        return value

    def contains_secret(self, value: str) -> bool:
        return self._pattern is not None and self._pattern.search(value) is not None


def _url_password(value: str) -> str | None:
    match = _URL_CREDENTIALS.match(value)
    return match["password"] if match else None


def mask_log_records(redactor: Redactor) -> Callable[[], None]:
    """Mask every log record as it is created, whatever handler (live log, capture, file) gets it.

    Returns the function that puts the previous record factory back (called at unconfigure).
    """
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if redactor.count or "://" in str(record.msg):
            try:
                message = record.getMessage()
            except (TypeError, ValueError, KeyError):  # a caller's bad format args must not raise from logging
                message = f"{record.msg} (arguments that do not fit the format: {record.args!r})"
            record.msg, record.args = redactor.text(message), None
        return record

    logging.setLogRecordFactory(factory)
    return lambda: logging.setLogRecordFactory(previous)
