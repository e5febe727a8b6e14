"""``filot_gate.load`` against a small HTTP/1.1 server on loopback: the users really are connected at the
same time (what makes a connection cap fail the load check every time), every answer a single user would
not get is counted by request, and a user that fails stops the others at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import httpx
import pytest

from filot_gate import load
from selftests.services import JsonStubHandler


class Server(ThreadingHTTPServer):
    """Answers /health with ``health_status``; drops the connection of a status poll when ``drop_status``.
    Counts requests and the most connections it held at once."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.health_status = 200
        self.drop_status = False
        self.requests = 0
        self.open = self.most_open = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class Handler(JsonStubHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the ALB and FiLot's API
    server: Server

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.open += 1
            self.server.most_open = max(self.server.most_open, self.server.open)

    def finish(self) -> None:
        with self.server.lock:
            self.server.open -= 1
        super().finish()

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        with self.server.lock:
            self.server.requests += 1
        if self.path.startswith("/verification/status/"):
            if self.server.drop_status:
                self.close_connection = True
                return
            self.answer(404, {"error": "no document"})
        else:
            self.answer(self.server.health_status, {"status": "ok"})


@pytest.fixture
def server() -> Iterator[Server]:
    server = Server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def clients(server: Server):
    return lambda: httpx.Client(base_url=server.url, timeout=10)


def test_every_user_is_connected_at_the_same_time_and_gets_a_single_users_answers(server):
    traffic = load.run(8, load.read_only_session(4), clients(server))
    assert server.most_open == 8, f"expected the 8 users connected at once, the server held at most {server.most_open}"
    assert traffic.unexpected() == []
    assert traffic.counts() == {"GET /verification/status/<an id no document has>": {"404": 16}, "GET /health": {"200": 16}}
    assert set(traffic.latency_ms()) == {"p50", "p95", "max"}


def test_wrong_answers_and_broken_connections_are_counted_by_request(server):
    server.health_status, server.drop_status = 503, True
    traffic = load.run(3, load.read_only_session(4), clients(server))
    assert traffic.counts() == {"GET /verification/status/<an id no document has>": {"no answer": 6}, "GET /health": {"503": 6}}
    assert len(traffic.unexpected()) == 12
    described = {answer.describe().split(":")[0] for answer in traffic.unexpected()}
    assert described == {"GET /health -> 503", "GET /verification/status/<an id no document has> -> no HTTP answer"}


def test_a_user_that_fails_stops_the_others_before_they_send_anything(server):
    made: list[int] = []

    def client() -> httpx.Client:
        made.append(1)
        if len(made) == 3:
            raise RuntimeError("no client for user 3")
        return httpx.Client(base_url=server.url, timeout=10)

    with pytest.raises(RuntimeError, match="no client for user 3"):
        load.run(4, load.read_only_session(40), client)
    assert server.requests == 0, f"expected no request once a user failed, the server got {server.requests}"
