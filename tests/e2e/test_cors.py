"""E2E (seed 002 section 6 "Verify CORS is properly configured"): the browser preflight of an
upload is allowed for the origins the profile lists, and for no other origin."""

from __future__ import annotations

import httpx
import pytest

from filot_gate.api_client import CheckedApi

pytestmark = pytest.mark.e2e


def preflight(api: CheckedApi, origin: str) -> httpx.Response:
    """What a browser sends before a cross-origin upload."""
    return api.options("/documents", headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                              "Access-Control-Request-Headers": "authorization"})


def test_cors_preflight_echoes_each_allowed_origin(api, settings, evidence):
    origins = settings.profile.get("e2e.cors_allowed_origins", [])
    if not origins:
        pytest.skip(f"profile {settings.profile.path.name} lists no allowed origin ([e2e] cors_allowed_origins):"
                    " no allow-list to check; the refusal of other origins is still checked")
    answers = {origin: preflight(api, origin) for origin in origins}
    evidence.add("preflights", {o: {"status": r.status_code, "headers": dict(r.headers)} for o, r in answers.items()})
    wrong = {o: (r.status_code, r.headers.get("access-control-allow-origin")) for o, r in answers.items()
             if r.status_code != 200 or r.headers.get("access-control-allow-origin") != o}
    assert not wrong, (
        f"OPTIONS /documents from an allowed origin: expected 200 with Access-Control-Allow-Origin echoing it;"
        f" got (status, header) {wrong}"
    )


def test_cors_does_not_allow_an_unlisted_origin(api, run_id, evidence):
    origin = f"https://filot-gate-{run_id.lower()}.example.invalid"
    answers = {"OPTIONS /documents": preflight(api, origin), "GET /health": api.get("/health", headers={"Origin": origin})}
    evidence.add(f"requests from {origin}", {k: {"status": r.status_code, "headers": dict(r.headers)} for k, r in answers.items()})
    allowed = {k: r.headers["access-control-allow-origin"] for k, r in answers.items()
               if r.headers.get("access-control-allow-origin") in (origin, "*")}
    assert not allowed, (
        f"{origin} is not an allowed origin: expected no Access-Control-Allow-Origin for it, got {allowed}"
    )
