"""The sandbox's Upstash REST API (EPR's cache) answers as Upstash does: a command as a JSON array or as
a path, Redis's own replies, 401 without the right bearer token, 400 for what Redis or the API refuses."""

from __future__ import annotations

import ssl

import httpx
import pytest

from selftests.services import UpstashServer, redis_server, upstash_server  # noqa: F401 - fixtures by name


@pytest.fixture
def cache(upstash_server: UpstashServer):
    with httpx.Client(base_url=upstash_server.url, verify=ssl.create_default_context(cafile=str(upstash_server.ca_file)),
                      headers={"Authorization": f"Bearer {upstash_server.token}"}, timeout=10) as client:
        yield client


def test_a_command_as_json_or_as_a_path_gets_redis_s_own_reply(cache):
    assert cache.post("/", json=["PING"]).json() == {"result": "PONG"}
    assert cache.post("/", json=["SET", "epr:selftest", "v1"]).json() == {"result": "OK"}
    assert cache.get("/get/epr:selftest").json() == {"result": "v1"}
    assert cache.post("/", json=["INCRBY", "epr:counter", 2]).json() == {"result": 2}


@pytest.mark.parametrize("authorization", [None, "Bearer not-the-token", "Basic x", "Bearer t\u00f6ken".encode("latin-1")])
def test_a_missing_or_wrong_token_is_refused_with_401(upstash_server, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    answer = httpx.post(upstash_server.url, json=["PING"], headers=headers, timeout=10,
                        verify=ssl.create_default_context(cafile=str(upstash_server.ca_file)))
    assert (answer.status_code, answer.json()) == (401, {"error": "Unauthorized"})


@pytest.mark.parametrize("body, error", [
    (b"not json", "expected a JSON array"),
    (b"{\"cmd\": \"PING\"}", "expected a command such as"),
    (b"[\"NOSUCHCOMMAND\"]", "unknown command"),
])
def test_what_redis_or_the_api_refuses_is_a_400_naming_it(cache, body, error):
    answer = cache.post("/", content=body)
    assert answer.status_code == 400 and error in answer.json()["error"], answer.text
