"""The managed data stores of the sandbox: Redis with TLS (like ElastiCache/Upstash) and PostgreSQL
(like RDS/Neon, its WAL archived to the sandbox's backup storage), each a real server process on loopback
with its state under the sandbox home.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import ssl
import stat
import subprocess
from pathlib import Path
from typing import Any

from sandbox.config import SandboxConfig
from sandbox.processes import Managed, SandboxError, port_open, require_port_free, wait_ready, wait_until
from filot_gate.db_backups import WalArchiver, wal_archiver
from filot_contract.redis_keys import KEYSPACE_EVENTS, REQUIRED_EVICTION_POLICY

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
POSTGRES_USER = "postgres"
#: The file in the data directory that turns WAL archiving on. An included file, not ``-c`` options, so
#: that ``ALTER SYSTEM`` (an operator's change, or the ``wal-archiving-failing`` fault) still overrides it.
WAL_ARCHIVE_CONF = "filot-sandbox-backups.conf"
#: The sandbox's WAL segments are 1 MiB (initdb ``--wal-segsize``), not 16: each archived on its own.
WAL_SEGMENT_MIB = 1


# --- TLS ------------------------------------------------------------------------------------------


def ensure_tls(config: SandboxConfig) -> None:
    """A self-signed CA and a server certificate for the loopback names, made once."""
    if (config.tls_dir / "server.pem").exists():
        return
    import trustme

    config.tls_dir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="FiLot sandbox CA")
    server = ca.issue_cert("127.0.0.1", "localhost", config.host)
    ca.cert_pem.write_to_path(str(config.ca_file))
    server.private_key_pem.write_to_path(str(config.tls_dir / "server.key"))
    server.cert_chain_pems[0].write_to_path(str(config.tls_dir / "server.pem"))
    os.chmod(config.tls_dir / "server.key", 0o600)


# --- Redis ----------------------------------------------------------------------------------------


def redis_process(config: SandboxConfig) -> Managed:
    return Managed("redis", config.run_dir, config.logs_dir / "redis.log")


def start_redis(config: SandboxConfig, password: str) -> None:
    managed = redis_process(config)
    if managed.pid():
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise SandboxError("redis: redis-server is not installed; run `make setup` (Debian package redis-server)")
    require_port_free("redis", config.host, config.redis_port)
    data = config.home / "redis"
    data.mkdir(parents=True, exist_ok=True)
    conf = data / "redis.conf"
    conf.write_text(_redis_conf(config, password, data))
    os.chmod(conf, 0o600)
    managed.start([binary, str(conf)])
    wait_ready("redis", managed, lambda: _redis_answers(config, password), config.start_deadline_s)


#: The sandbox Redis's memory limit (noeviction: at the limit it refuses writes).
REDIS_MAXMEMORY = "256mb"


def _redis_conf(config: SandboxConfig, password: str, data: Path) -> str:
    tls = config.tls_dir
    return "\n".join([
        f"bind {config.host}",
        "port 0",
        f"tls-port {config.redis_port}",
        f"tls-cert-file {tls / 'server.pem'}",
        f"tls-key-file {tls / 'server.key'}",
        f"tls-ca-cert-file {config.ca_file}",
        "tls-auth-clients no",
        f"requirepass {password}",
        f"dir {data}",
        "appendonly yes",
        "appendfsync everysec",
        f"maxmemory {REDIS_MAXMEMORY}",
        f"maxmemory-policy {REQUIRED_EVICTION_POLICY}",
        f'notify-keyspace-events "{KEYSPACE_EVENTS}"',
        "save ''",
        "daemonize no",
        "",
    ])


def _redis_answers(config: SandboxConfig, password: str) -> bool:
    import redis

    try:
        client = redis.Redis(host=config.host, port=config.redis_port, password=password, ssl=True,
                             ssl_ca_certs=str(config.ca_file), socket_timeout=2, socket_connect_timeout=1)
        return bool(client.ping())
    except (redis.RedisError, OSError, ssl.SSLError):
        return False


# --- PostgreSQL -----------------------------------------------------------------------------------


def postgres_process(config: SandboxConfig) -> Managed:
    return Managed("postgres", config.run_dir, config.logs_dir / "postgres.log")


def start_postgres(config: SandboxConfig, password: str) -> None:
    """initdb on first start (as the postgres user: the server refuses root), then start the server."""
    managed = postgres_process(config)
    if managed.pid():
        return
    if not (POSTGRES_BIN / "postgres").exists():
        raise SandboxError(f"postgres: PostgreSQL 15 server binaries not found in {POSTGRES_BIN}; install postgresql-15")
    require_port_free("postgres", config.host, config.postgres_port)
    data = config.home / "postgres"
    socket_dir = config.home / "postgres-socket"
    fresh = not (data / "PG_VERSION").exists()
    if fresh:
        _initdb(data, socket_dir, password)
        # a new cluster starts its WAL names over: an old cluster's archive would refuse them
        shutil.rmtree(wal_archive_dir(config), ignore_errors=True)
    _archive_wal_to(data, wal_archive_dir(config))
    managed.start(
        _as_postgres([str(POSTGRES_BIN / "postgres"), "-D", str(data), "-h", config.host,
                      "-p", str(config.postgres_port), "-k", str(socket_dir)]),
    )
    wait_ready("postgres", managed, lambda: _postgres_answers(config, password), config.start_deadline_s)
    if fresh:
        _create_database(config, password)
    _first_backup(config, password)


def wal_archive_dir(config: SandboxConfig) -> Path:
    """The sandbox's backup storage for PostgreSQL's WAL (an S3 bucket or a backup volume in production)."""
    return config.home / "postgres-wal-archive"


def wal_archive_command(directory: Path) -> str:
    """``archive_command`` copying a finished segment into ``directory``, never over one already there."""
    target = f"{shlex.quote(str(directory))}/%f"
    return f"test ! -f {target} && cp %p {target}"


def close_wal_segment(conn: Any) -> WalArchiver:
    """Write a WAL record and switch segments (a switch with nothing written is a no-op), so that the server
    archives one more segment; returns the archiver's state just after."""
    conn.execute("SELECT pg_logical_emit_message(false, 'filot-sandbox', 'close the WAL segment')")
    conn.execute("SELECT pg_switch_wal()")
    return wal_archiver(conn)


def _archive_wal_to(data: Path, directory: Path) -> None:
    directory.mkdir(exist_ok=True)
    _give_to_postgres(directory)
    command = wal_archive_command(directory).replace("'", "''")
    (data / WAL_ARCHIVE_CONF).write_text(f"archive_mode = on\narchive_command = '{command}'\n")
    _give_to_postgres(data / WAL_ARCHIVE_CONF)
    conf = data / "postgresql.conf"
    include = f"include_if_exists = '{WAL_ARCHIVE_CONF}'"
    if include not in conf.read_text():
        with conf.open("a") as out:
            out.write(f"\n{include}\n")


def _first_backup(config: SandboxConfig, password: str) -> None:
    """Close the current WAL segment and wait until the archiver has tried it, so that the sandbox starts
    with its backups current (and a start after a crash, which lost the archiver's counters, shows them
    again). A failure is left for the gate to find: a fault may have broken archiving on purpose."""
    import psycopg

    url = f"postgresql://filot:{password}@{config.host}:{config.postgres_port}/filot"
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        closed = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0]
        close_wal_segment(conn)
        tried = wait_until(lambda: _tried(wal_archiver(conn), closed), config.start_deadline_s)
        if not tried:
            raise SandboxError(f"postgres: WAL segment {closed} was neither archived nor failed within"
                               f" {config.start_deadline_s:.0f}s; see {config.logs_dir / 'postgres.log'}")


def _tried(archiver: WalArchiver, segment: str) -> bool:
    return max(archiver.last_archived_wal or "", archiver.last_failed_wal or "") >= segment


def _give_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam(POSTGRES_USER)
        os.chown(path, user.pw_uid, user.pw_gid)


def _initdb(data: Path, socket_dir: Path, password: str) -> None:
    user = pwd.getpwnam(POSTGRES_USER)
    if os.geteuid() == 0 and (closed := _closed_to(user, data.parent)) is not None:
        mode = closed.stat().st_mode & 0o777
        raise SandboxError(
            f"postgres: the server runs as user {POSTGRES_USER}, which cannot enter {closed} (mode {mode:o},"
            f" owner {pwd.getpwuid(closed.stat().st_uid).pw_name}); make it traversable (chmod o+x {closed})"
            " or set FILOT_SANDBOX_HOME to a directory under one it can enter")
    for path in (data, socket_dir):
        if path.exists():
            shutil.rmtree(path)  # a half-made cluster from an interrupted first start
        path.mkdir(parents=True)
        os.chown(path, user.pw_uid, user.pw_gid)
    pwfile = data.parent / ".pgpass-init"
    pwfile.write_text(password + "\n")
    os.chown(pwfile, user.pw_uid, user.pw_gid)
    os.chmod(pwfile, 0o600)
    try:
        result = subprocess.run(
            _as_postgres([str(POSTGRES_BIN / "initdb"), "-D", str(data), "-U", "filot", "--auth=scram-sha-256",
                          f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8", f"--wal-segsize={WAL_SEGMENT_MIB}"]),
            capture_output=True, text=True, timeout=120,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        raise SandboxError(f"postgres: initdb failed (exit {result.returncode}):\n{result.stderr[-2000:]}")


def _closed_to(user: pwd.struct_passwd, path: Path) -> Path | None:
    """The first directory on the way to ``path`` that ``user`` may not enter (no search permission)."""
    groups = set(os.getgrouplist(user.pw_name, user.pw_gid))
    for directory in (*reversed(path.parents), path):
        st = directory.stat()
        if st.st_uid == user.pw_uid:
            allowed = st.st_mode & stat.S_IXUSR
        elif st.st_gid in groups:
            allowed = st.st_mode & stat.S_IXGRP
        else:
            allowed = st.st_mode & stat.S_IXOTH
        if not allowed:
            return directory
    return None


def _postgres_answers(config: SandboxConfig, password: str) -> bool:
    """Accepting connections, not merely listening ("the database system is starting up")."""
    import psycopg

    if not port_open(config.host, config.postgres_port):
        return False
    url = f"postgresql://filot:{password}@{config.host}:{config.postgres_port}/postgres"
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _create_database(config: SandboxConfig, password: str) -> None:
    import psycopg

    url = f"postgresql://filot:{password}@{config.host}:{config.postgres_port}/postgres"
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute("CREATE DATABASE filot")


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", POSTGRES_USER, "--", *argv]
