"""BULI2 callback signing (DESIGN.md section 3): HMAC-SHA256 over ``timestamp + "." + raw body``."""

from __future__ import annotations

import hashlib
import hmac
import re

SIGNATURE_HEADER = "X-BULI2-Signature"
TIMESTAMP_HEADER = "X-BULI2-Timestamp"
CALLBACK_ID_HEADER = "X-BULI2-Callback-Id"
#: A callback whose timestamp is further than this from now is refused as stale (400).
MAX_SKEW_S = 300
#: ``X-BULI2-Timestamp``: Unix seconds as ASCII digits, a fraction allowed. ``float()`` alone would take
#: ``nan``, ``inf``, ``1e9``, a sign, spaces and non-ASCII digits.
_TIMESTAMP = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,9})?")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The hex signature BULI2 puts in ``X-BULI2-Signature`` (prefixed ``sha256=``)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Constant-time check of a callback signature (as bytes: ``compare_digest`` raises on non-ASCII text)."""
    return hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode("utf-8", "replace"))


def parse_timestamp(value: str) -> float:
    """The ``X-BULI2-Timestamp`` header as Unix seconds; ValueError naming what came when it is not one."""
    if not _TIMESTAMP.fullmatch(value):
        raise ValueError(f"expected a Unix timestamp in seconds, got {value[:40]!r}")
    return float(value)
