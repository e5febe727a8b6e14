"""Bearer JWT (HS256 with ``JWT_SECRET``) with claims ``sub`` and ``role``; ``exp`` is required."""

from __future__ import annotations

import re
from dataclasses import dataclass

import jwt

from sandbox.api.errors import ApiError

ALGORITHM = "HS256"
ROLES = ("user", "admin")
#: A subject becomes a database key: printable, no control characters, bounded.
_SUBJECT = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="filot"'}


@dataclass(frozen=True)
class Principal:
    """Who is calling, from a verified token."""

    subject: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, _CHALLENGE)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, or 401 saying what is missing."""
    if not authorization:
        raise _unauthorized("missing Authorization header: a bearer JWT is required")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Authorization header must be 'Bearer <JWT>'")
    return token.strip()


def verify_token(token: str, secret: str) -> Principal:
    """Decode and check a token; every way it can be wrong is a 401 naming that way."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "role"]})
    except jwt.ExpiredSignatureError:
        raise _unauthorized("token expired") from None
    except jwt.InvalidSignatureError:
        raise _unauthorized("token signature is invalid (forged or signed with another secret)") from None
    except jwt.MissingRequiredClaimError as error:
        raise _unauthorized(f"token lacks the required claim '{error.claim}'") from None
    except jwt.InvalidAlgorithmError:
        raise _unauthorized(f"token algorithm not allowed: only {ALGORITHM} is accepted") from None
    except jwt.InvalidTokenError as error:
        raise _unauthorized(f"token is not a valid JWT: {error}") from None
    subject, role = claims["sub"], claims["role"]
    if not isinstance(subject, str) or not _SUBJECT.match(subject):
        raise _unauthorized("token claim 'sub' must be 1-255 printable characters")
    if role not in ROLES:
        raise _unauthorized(f"token claim 'role' must be one of {', '.join(ROLES)}")
    return Principal(subject=subject, role=role)


def authenticate(authorization: str | None, secret: str) -> Principal:
    return verify_token(bearer_token(authorization), secret)


def require_admin(principal: Principal) -> Principal:
    if not principal.is_admin:
        raise ApiError(403, "this route needs a token with role 'admin'")
    return principal
