"""Throwaway PostgreSQL and Redis servers for selftests: real binaries, random free ports, cleanup.

Use the functions directly (``start_postgres()``, ``start_redis()``) or the pytest fixtures, which a
test module imports by name::

    from selftests.services import postgres_server, redis_server, fresh_database  # noqa: F401

``postgres_server`` and ``redis_server`` are session-scoped (one server per test session);
``fresh_database`` gives each test its own empty database on that server, ``fresh_redis`` an empty
Redis (FLUSHALL). PostgreSQL refuses to run as root, so when the tests run as root the server runs as
the ``postgres`` system user on a directory it owns.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
import redis
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

T = TypeVar("T")
PG_BIN = Path(os.environ.get("FILOT_PG_BIN", "/usr/lib/postgresql/15/bin"))
START_DEADLINE_S = 30.0
STOP_DEADLINE_S = 10.0


class JsonStubHandler(BaseHTTPRequestHandler):
    """The handler of a stub HTTP server in a selftest: JSON answers, no access log on stderr."""

    def answer(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class NotReady(Exception):
    """Raised by a readiness check that has not succeeded yet."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], T], what: str, deadline_s: float, interval_s: float = 0.05) -> T:
    """Call ``check`` until it returns without raising NotReady/OSError; TimeoutError after the deadline."""
    retrying = Retrying(
        stop=stop_after_delay(deadline_s),
        wait=wait_fixed(interval_s),
        retry=retry_if_exception_type((NotReady, OSError, psycopg.OperationalError, redis.ConnectionError)),
    )
    try:
        return retrying(check)
    except RetryError as error:
        last = error.last_attempt.exception()
        raise TimeoutError(f"waited {deadline_s:g}s for {what}; last state: {last!r}") from None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen, sig: int) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_DEADLINE_S)


@dataclass
class PostgresServer:
    """A running PostgreSQL cluster on 127.0.0.1:port, superuser ``postgres`` with trust auth."""

    port: int
    directory: Path
    process: subprocess.Popen
    databases: list[str] = field(default_factory=list)

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; returns its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return self.dsn(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        _stop(self.process, signal.SIGINT)  # SIGINT: "fast" shutdown, does not wait for clients
        shutil.rmtree(self.directory, ignore_errors=True)


def _as_postgres_user() -> dict:
    """Popen arguments that drop root to the ``postgres`` user (nothing when not root)."""
    if os.geteuid() != 0:
        return {}
    return {"user": "postgres", "group": "postgres", "extra_groups": []}


def start_postgres(deadline_s: float = START_DEADLINE_S) -> PostgresServer:
    """initdb a fresh cluster in a temp dir and start it on a free port; ready when it accepts logins."""
    directory = Path(tempfile.mkdtemp(prefix="filot-pg-"))
    data = directory / "data"
    log_file = directory / "postgres.log"
    drop = _as_postgres_user()
    if drop:
        owner = pwd.getpwnam("postgres")
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    subprocess.run(
        [PG_BIN / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C.UTF-8"],
        check=True,
        capture_output=True,
        timeout=deadline_s,
        **drop,
    )
    port = free_port()
    settings = {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": str(directory),
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "200",
    }
    args = [PG_BIN / "postgres", "-D", data, "-p", str(port)]
    for name, value in settings.items():
        args += ["-c", f"{name}={value}"]
    with open(log_file, "wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, **drop)
    server = PostgresServer(port, directory, process)

    def accepts_logins() -> None:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited with {process.returncode}:\n{_tail(log_file)}")
        psycopg.connect(server.dsn(), connect_timeout=2).close()

    try:
        wait_for(accepts_logins, f"PostgreSQL on 127.0.0.1:{port} to accept logins", deadline_s)
    except BaseException:
        server.stop()
        raise
    return server


@dataclass
class RedisServer:
    """A running redis-server on 127.0.0.1:port (no persistence, keyspace events on)."""

    port: int
    directory: Path
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)

    def stop(self) -> None:
        _stop(self.process, signal.SIGTERM)
        shutil.rmtree(self.directory, ignore_errors=True)


def start_redis(extra_args: tuple[str, ...] = (), deadline_s: float = START_DEADLINE_S) -> RedisServer:
    """Start redis-server on a free port; ready when it answers PING."""
    directory = Path(tempfile.mkdtemp(prefix="filot-redis-"))
    port = free_port()
    args = [
        shutil.which("redis-server") or "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(directory),
        "--save",
        "",
        "--appendonly",
        "no",
        "--notify-keyspace-events",
        "KA",
        *extra_args,
    ]
    log_file = directory / "redis.log"
    with open(log_file, "wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    server = RedisServer(port, directory, process)

    def answers_ping() -> None:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}:\n{_tail(log_file)}")
        with server.client() as client:
            client.ping()

    try:
        wait_for(answers_ping, f"Redis on 127.0.0.1:{port} to answer PING", deadline_s)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = start_redis()
    yield server
    server.stop()


@pytest.fixture
def fresh_database(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture
def fresh_redis(redis_server: RedisServer) -> Iterator[RedisServer]:
    """The session's Redis, emptied before the test."""
    with redis_server.client() as client:
        client.flushall()
    yield redis_server


@dataclass
class UpstashServer:
    """The sandbox's Upstash REST API (``sandbox.upstash_rest``) on a throwaway Redis, HTTPS with its own CA."""

    url: str
    token: str
    ca_file: Path
    rest: object

    def stop(self) -> None:
        self.rest.stop()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def upstash_server(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpstashServer]:
    import secrets

    import trustme

    from sandbox.upstash_rest import UpstashRest

    directory = tmp_path_factory.mktemp("upstash")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(str(directory / "server.key"))
    cert.cert_chain_pems[0].write_to_path(str(directory / "server.pem"))
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    port, token = free_port(), secrets.token_urlsafe(32)
    rest = UpstashRest("127.0.0.1", port, token, redis_server.client(), directory / "server.pem", directory / "server.key")
    rest.start()
    server = UpstashServer(f"https://127.0.0.1:{port}", token, directory / "ca.pem", rest)
    yield server
    server.stop()


@dataclass
class TemporalServer:
    """The sandbox's Temporal (the CLI's dev server), started by ``sandbox.temporal_server`` in a scratch home."""

    config: Any

    @property
    def endpoint(self) -> str:
        return self.config.temporal_endpoint

    @property
    def namespace(self) -> str:
        return self.config.temporal_namespace


@pytest.fixture(scope="module")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalServer]:
    from sandbox.config import SandboxConfig
    from sandbox.temporal_server import start_temporal, temporal_process

    config = SandboxConfig(home=tmp_path_factory.mktemp("temporal"), temporal_port=free_port(),
                           temporal_http_port=free_port(), temporal_metrics_port=free_port())
    with warnings.catch_warnings():  # the sandbox detaches its components: their Popen is dropped while they run
        warnings.simplefilter("ignore", ResourceWarning)
        start_temporal(config)
    yield TemporalServer(config)
    temporal_process(config).stop(deadline_s=10)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server on loopback for one module: the AWS control plane of its pytester runs."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
