"""EPR's Upstash cache, through its REST API (``EPR_REDIS_URL``, bearer ``EPR_REDIS_TOKEN``). The API
container checks it once at start-up: a token Upstash refuses ends the container with a line that says
so, which is seed 004's "Task Keeps Restarting" for "Invalid Redis credentials"."""

from __future__ import annotations

import ssl

import httpx

from sandbox.epr.settings import ApiSettings

#: Seconds the start-up check may wait for Upstash.
PING_TIMEOUT_S = 5.0


class CacheUnavailable(Exception):
    """Upstash did not answer PING with PONG for this URL and token; the message says what came instead."""


def ping(settings: ApiSettings) -> None:
    """``PING`` through the REST API, as ``curl -H "Authorization: Bearer $EPR_REDIS_TOKEN" $EPR_REDIS_URL -d '["PING"]'``."""
    try:
        tls = ssl.create_default_context(cafile=settings.redis_ca_file)  # the system's CAs unless a CA file is given
    except (OSError, ssl.SSLError) as exc:
        raise CacheUnavailable(f"REDIS_TLS_CA_FILE {settings.redis_ca_file}: not a readable CA bundle ({exc})") from None
    try:
        answer = httpx.post(settings.redis_url, json=["PING"], verify=tls, timeout=PING_TIMEOUT_S,
                            headers={"Authorization": f"Bearer {settings.redis_token.get_secret_value()}"})
    except httpx.HTTPError as exc:
        raise CacheUnavailable(f"EPR_REDIS_URL {settings.redis_url}: unreachable: {exc}") from None
    if answer.status_code == 401:
        raise CacheUnavailable(f"EPR_REDIS_URL {settings.redis_url}: EPR_REDIS_TOKEN refused (401 Unauthorized)")
    try:
        body = answer.json()
    except ValueError:  # not JSON: the check below quotes what came
        body = None
    result = body.get("result") if isinstance(body, dict) else None
    if answer.status_code != 200 or result != "PONG":
        raise CacheUnavailable(f"EPR_REDIS_URL {settings.redis_url}: expected PING -> PONG, got {answer.status_code}"
                               f" {answer.text[:200]}")
