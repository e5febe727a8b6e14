"""Upstash's REST API in front of the sandbox's Redis: EPR's cache (seed 004 "Upstash Redis instance",
``EPR_REDIS_URL=https://...upstash.io`` with ``EPR_REDIS_TOKEN`` as its bearer token).

As Upstash answers: ``POST /`` with a JSON array (``["SET", "k", "v"]``) or ``GET /set/k/v`` runs the
command and answers ``{"result": ...}``; a missing or wrong token is 401 ``{"error": "Unauthorized"}``; a
command Redis refuses is 400 ``{"error": "ERR ..."}``. HTTPS with the sandbox's CA, on loopback only.
"""

from __future__ import annotations

import hmac
import json
import logging
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

log = logging.getLogger("sandbox.upstash")

#: The largest command body accepted (Upstash's own limit is higher; EPR's cache entries are small).
MAX_BODY_BYTES = 1 << 20


class UpstashRest:
    """The REST listener: one thread serving HTTPS, each request run on ``client``, a Redis client of its
    own: its reply callbacks are cleared, so that replies pass on as Redis gives them (PING -> "PONG", not True)."""

    def __init__(self, host: str, port: int, token: str, client: Any, certfile: Path, keyfile: Path) -> None:
        client.response_callbacks.clear()
        handler = type("Handler", (_Handler,), {"token": token, "redis": client})
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self._thread = threading.Thread(target=self.server.serve_forever, name="upstash-rest", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    token: str
    redis: Any
    timeout = 10  # a client that opens a connection and sends nothing is dropped

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return self._answer(413, {"error": f"request body over {MAX_BODY_BYTES} bytes"})
        try:
            command = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            return self._answer(400, {"error": "expected a JSON array of the command and its arguments"})
        self._run(command)

    def do_GET(self) -> None:  # noqa: N802
        self._run([unquote(part) for part in self.path.split("?", 1)[0].strip("/").split("/") if part])

    def _run(self, command: Any) -> None:
        import redis

        # as bytes: compare_digest raises TypeError on a non-ASCII header, which would be a 500
        if not hmac.compare_digest(self.headers.get("Authorization", "").encode("utf-8", "replace"),
                                   f"Bearer {self.token}".encode()):
            log.warning("refused %s %s from %s: missing or wrong bearer token", self.command, self.path, self.client_address[0])
            return self._answer(401, {"error": "Unauthorized"})
        if not (isinstance(command, list) and command and all(isinstance(a, (str, int, float)) for a in command)):
            return self._answer(400, {"error": f"expected a command such as [\"PING\"], got {json.dumps(command)[:100]}"})
        try:
            result = self.redis.execute_command(*command)
        except redis.ResponseError as exc:
            return self._answer(400, {"error": str(exc)})
        except redis.RedisError as exc:
            log.error("Redis behind the REST API failed: %s", exc)
            return self._answer(500, {"error": f"database unavailable: {exc}"})
        self._answer(200, {"result": result})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        log.debug("%s " + format, self.client_address[0], *args)
