"""``GET /health`` of the worker (seed 001's container health check curls it on port 8080).

A tiny http.server on its own thread: 200 with the worker's vital signs, or 503 naming what is wrong
(Redis unreachable, poll loop stalled, shutting down).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Check = Callable[[], tuple[int, dict[str, object]]]


def _handler(check: Check) -> type[BaseHTTPRequestHandler]:
    class HealthHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path.split("?", 1)[0] != "/health":
                self._send(404, {"error": f"no route {self.path}; the worker serves GET /health only"})
                return
            self._send(*check())

        def _send(self, status: int, body: dict[str, object]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:  # health probes are not worth a log line
            return

    return HealthHandler


class HealthServer:
    """Serves ``check()`` (status code, JSON body) at ``GET /health`` on ``host:port`` (0: any free port)."""

    def __init__(self, host: str, port: int, check: Check) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(check))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="health", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
