"""Bearer JWTs as FiLot's auth issues them: HS256 with the claims ``sub``, ``role`` and ``exp``."""

from __future__ import annotations

import time

import jwt

#: Short-lived on purpose: a token of the gate's synthetic user is useless after the run.
DEFAULT_TTL_S = 3600


def sign_token(secret: str, subject: str, role: str = "user", ttl_s: int = DEFAULT_TTL_S) -> str:
    return jwt.encode({"sub": subject, "role": role, "exp": int(time.time()) + ttl_s}, secret, algorithm="HS256")
