"""The deployment under test, behind one object: AWS clients, secrets, Redis, PostgreSQL, the API.

Nothing here knows whether the target is the sandbox or AWS: the profile gives the region, the
endpoint (``AWS_ENDPOINT_URL`` / ``aws.endpoint_url``), the API URL and where secrets live. Clients
are built lazily, with finite timeouts; every secret value read is registered with the redactor.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filot_contract import aws_names
from filot_gate.redact import Redactor
from filot_gate.secret_store import register_secret
from filot_gate.settings import GateSettings

if TYPE_CHECKING:
    import httpx
    import psycopg

    from filot_gate.temporal_runs import TemporalConnection


#: Seconds one SQL statement of the gate may run (PostgreSQL's statement_timeout on its connections).
DEFAULT_QUERY_S = 30
#: The session name the gate's assumed role shows in CloudTrail and ``get-caller-identity``.
ROLE_SESSION_NAME = "filot-gate"
#: How long one set of the assumed role's credentials lasts (role chaining allows no more); they are
#: renewed before they expire.
ROLE_SESSION_S = 3600


class TargetUnavailable(Exception):
    """A dependency of the target could not be reached or read; the message says which and why."""


class Target:
    """Lazily built clients of one target (one per process: controller or xdist worker)."""

    def __init__(self, settings: GateSettings, redactor: Redactor, rootdir: Path) -> None:
        self.settings = settings
        self.redactor = redactor
        self.rootdir = rootdir
        self._secrets: dict[str, Any] = {}

    # --- AWS ------------------------------------------------------------------------------------

    @cached_property
    def aws_session(self):
        """The credentials the gate reads and rolls back with: the profile's static keys or the AWS default
        chain, exchanged for the role ``[aws] role_arn`` names, where it names one."""
        import boto3

        static = self.settings.section("aws").get("static_credentials")
        if static:  # an emulator's fixed, non-secret keys (moto accepts any)
            base = boto3.Session(aws_access_key_id=static[0], aws_secret_access_key=static[1], region_name=self.settings.region)
        else:
            base = boto3.Session(profile_name=self.settings.aws_profile, region_name=self.settings.region)
        role_arn = self.settings.section("aws").get("role_arn")
        return self._assumed(base, role_arn) if role_arn else base

    def _assumed(self, base: Any, role_arn: str) -> Any:
        """A session on the role's credentials (``aws sts assume-role``), renewed before they expire: a
        rollback after the run's deadline, waiting on each service in turn, may outlast one session."""
        import boto3
        import botocore.session
        from botocore.credentials import AssumeRoleCredentialFetcher, RefreshableCredentials
        from botocore.exceptions import BotoCoreError, ClientError

        from filot_gate.deploy.calls import aws_client_config

        source = base.get_credentials()
        if source is None:
            raise TargetUnavailable(f"assuming role {role_arn} (profile [aws] role_arn): no AWS credentials to assume it"
                                    " with (AWS_PROFILE, environment, instance or CI role)")

        def sts_client(service: str, **credentials: Any) -> Any:
            return base._session.create_client(service, region_name=self.settings.region, config=aws_client_config(),
                                               endpoint_url=self.settings.aws_endpoint_url, **credentials)

        fetcher = AssumeRoleCredentialFetcher(sts_client, source, role_arn, extra_args={
            "RoleSessionName": ROLE_SESSION_NAME, "DurationSeconds": ROLE_SESSION_S})
        try:
            first = fetcher.fetch_credentials()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise TargetUnavailable(f"assuming role {role_arn} (profile [aws] role_arn): {error.get('Code', '?')}:"
                                    f" {error.get('Message', '')}") from None
        except BotoCoreError as exc:
            raise TargetUnavailable(f"assuming role {role_arn} (profile [aws] role_arn): {type(exc).__name__}: {exc}") from None
        for value in (first["secret_key"], first["token"]):
            self.redactor.register(value)
        session = botocore.session.Session()
        session._credentials = RefreshableCredentials.create_from_metadata(
            first, refresh_using=fetcher.fetch_credentials, method="assume-role")
        return boto3.Session(botocore_session=session, region_name=self.settings.region)

    def client(self, service: str):
        """A boto3 client of the target's AWS account (``aws_client_config``)."""
        from filot_gate.deploy.calls import aws_client_config

        return self.aws_session.client(service, endpoint_url=self.settings.aws_endpoint_url, config=aws_client_config())

    @property
    def secrets_prefix(self) -> str:
        return self.settings.profile.get("aws.secrets_prefix", aws_names.SECRETS_PREFIX)

    def secret(self, name: str) -> Any:
        """The value of secret ``<prefix>/<name>``: a dict for JSON secrets, else the string."""
        if name not in self._secrets:
            from botocore.exceptions import BotoCoreError, ClientError

            secret_id = f"{self.secrets_prefix}/{name}"
            try:
                raw = self.client("secretsmanager").get_secret_value(SecretId=secret_id).get("SecretString")
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "?")
                raise TargetUnavailable(f"secret {secret_id}: {code}: {exc.response.get('Error', {}).get('Message', '')}") from None
            except BotoCoreError as exc:
                raise TargetUnavailable(f"secret {secret_id}: AWS unreachable: {exc}") from None
            if raw is None:
                raise TargetUnavailable(f"secret {secret_id}: expected a SecretString (JSON or text), got a SecretBinary")
            value: Any = raw
            if raw.lstrip().startswith("{"):
                try:
                    value = json.loads(raw)
                except ValueError:
                    value = raw
            register_secret(self, f"{aws_names.SECRETS_PREFIX}/{name}", raw)
            self._secrets[name] = value
        return self._secrets[name]

    def secret_key(self, name: str, key: str) -> str:
        """One key of a JSON secret, or the whole string secret when it is not JSON."""
        value = self.secret(name)
        if isinstance(value, dict):
            if key not in value:
                raise TargetUnavailable(f"secret {self.secrets_prefix}/{name} has no key {key} (keys: {', '.join(sorted(value))})")
            return value[key]
        return value

    def register_all_secrets(self) -> tuple[int, list[str]]:
        """Read every secret under the prefix so that the redactor knows each value; returns how many
        were registered, and why each of the others could not be read (one unreadable secret must not
        leave the rest unmasked)."""
        paginator = self.client("secretsmanager").get_paginator("list_secrets")
        names = [
            s["Name"][len(self.secrets_prefix) + 1 :]
            for page in paginator.paginate(Filters=[{"Key": "name", "Values": [self.secrets_prefix + "/"]}])
            for s in page["SecretList"]
        ]
        unreadable = []
        for name in names:
            try:
                self.secret(name)
            except TargetUnavailable as exc:
                unreadable.append(str(exc))
        return len(names) - len(unreadable), unreadable

    # --- data plane -------------------------------------------------------------------------------

    @property
    def redis_url(self) -> str:
        return self.settings.profile.get("target.redis_url") or self.secret_key("redis", "REDIS_URL")

    def redis(self, anonymous: bool = False, **overrides: Any) -> Any:
        """A client of FiLot's Redis with TLS verified against the profile's CA (or the system's).

        ``anonymous`` connects without the URL's credentials (to check that Redis requires them).
        """
        import redis
        from urllib.parse import urlsplit, urlunsplit

        ca_file = self.settings.profile.get("target.redis_ca_file")
        options: dict[str, Any] = {"socket_timeout": 10, "socket_connect_timeout": 5, "decode_responses": True}
        if self.redis_url.startswith("rediss://") and ca_file:
            options["ssl_ca_certs"] = str(self.rootdir / ca_file)
        options.update(overrides)
        url = self.redis_url
        if anonymous:
            parts = urlsplit(url)
            url = urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))
        return redis.Redis.from_url(url, **options)

    @property
    def database_url(self) -> str:
        return self.settings.profile.get("target.database_url") or self.secret_key("database-url", "DATABASE_URL")

    def db(self) -> "psycopg.Connection":
        """A connection whose every statement ends within ``[deadlines] query_s`` (``statement_timeout`` as a
        startup option). Behind a transaction-mode pooler (``[database] pooled``) none is set: PgBouncer refuses
        unknown startup options, and a ``SET`` would stay on a server connection FiLot's own queries use next."""
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        params = {**conninfo_to_dict(self.database_url), "connect_timeout": 5}
        if not self.settings.profile.get("database.pooled", False):
            deadline_ms = round(1000 * float(self.settings.profile.get("deadlines.query_s", DEFAULT_QUERY_S)))
            params["options"] = f"{params.get('options', '')} -c statement_timeout={deadline_ms}".strip()
        return psycopg.connect(**params, autocommit=True)

    @property
    def epr_database_url(self) -> str:
        return self.secret_key("epr", "EPR_DATABASE_URL")

    @property
    def temporal(self) -> "TemporalConnection":
        """FiLot's Temporal, with the values of secret ``<prefix>/temporal``; the profile's ``[temporal] tls``
        overrides the SDK's choice (TLS when an API key is given)."""
        from filot_contract import temporal
        from filot_gate.temporal_runs import TemporalConnection

        return TemporalConnection(
            endpoint=self.secret_key(temporal.SECRET_NAME, temporal.ENDPOINT_KEY),
            namespace=self.secret_key(temporal.SECRET_NAME, temporal.NAMESPACE_KEY),
            api_key=self.secret_key(temporal.SECRET_NAME, temporal.API_KEY_KEY) or None,
            tls=self.settings.profile.get("temporal.tls"),
        )

    def epr_cache(self) -> "httpx.Client":
        """EPR's Upstash REST API (seed 004 ``EPR_REDIS_URL``) with its secret's bearer token; TLS verified
        against the profile's CA, or the system's (Upstash's certificate is a public one)."""
        import ssl

        import httpx

        ca_file = self.settings.profile.get("target.redis_ca_file")
        tls = ssl.create_default_context(cafile=str(self.rootdir / ca_file) if ca_file else None)
        return httpx.Client(base_url=self.secret_key("epr", "EPR_REDIS_URL"), verify=tls,
                            timeout=httpx.Timeout(10.0, connect=5.0),
                            headers={"Authorization": f"Bearer {self.secret_key('epr', 'EPR_REDIS_TOKEN')}"})

    def api(self) -> "httpx.Client":
        return http_client(self.settings.api_url)

    def epr_api(self) -> "httpx.Client":
        """The EPR API through its load balancer (seed 004 "Health Check Endpoint")."""
        return http_client(self.settings.epr_api_url)


def http_client(base_url: str) -> "httpx.Client":
    """A client of one of the target's HTTP endpoints: a request that hangs fails after 20 s."""
    import httpx

    return httpx.Client(base_url=base_url, timeout=httpx.Timeout(20.0, connect=5.0))


#: Exit code of a profile's ``target.check`` command meaning "not running at all".
NOT_RUNNING = 3


@dataclass
class TargetProcess:
    """A target the gate may start itself (the local sandbox): commands from the profile's [target]."""

    check: list[str]
    start: list[str]
    stop: list[str]
    cwd: Path
    started: bool = False

    @classmethod
    def from_settings(cls, settings: GateSettings, cwd: Path) -> "TargetProcess | None":
        commands = [settings.profile.get(f"target.{name}") for name in ("check", "start", "stop")]
        if not all(commands):
            return None
        return cls(*(_argv(c) for c in commands), cwd=cwd)

    def state(self) -> int:
        """The check command's exit code: 0 healthy, 3 not running, anything else running but unhealthy."""
        return self._run(self.check, "check", deadline_s=60, capture_output=True)

    def ensure_up(self, deadline_s: float) -> str:
        """Start the target when it is not running (the gate owns it then); says what it found or did.

        A running but unhealthy target is left as it is: the gates will say what is wrong with it.
        """
        state = self.state()
        if state == 0:
            return "running and healthy"
        if state != NOT_RUNNING:
            return f"running but not healthy ({shlex.join(self.check)} exited {state}); the gates check it as it is"
        returncode = self._run(self.start, "start", deadline_s=deadline_s)
        if returncode != 0:
            raise TargetUnavailable(f"target did not start: {shlex.join(self.start)} exited {returncode}")
        self.started = True
        return "was not running: started (stopped again after the run unless --keep-target)"

    def shut_down(self, deadline_s: float = 120) -> None:
        returncode = self._run(self.stop, "stop", deadline_s=deadline_s)
        if returncode != 0:
            raise TargetUnavailable(f"target did not stop: {shlex.join(self.stop)} exited {returncode}")

    def _run(self, argv: list[str], what: str, deadline_s: float, capture_output: bool = False) -> int:
        """One of the profile's target commands; a missing program or one past its deadline is TargetUnavailable."""
        try:
            return subprocess.run(argv, cwd=self.cwd, capture_output=capture_output, timeout=deadline_s).returncode
        except subprocess.TimeoutExpired:
            bound = "; [deadlines] start_s sets this deadline" if what == "start" else ""
            raise TargetUnavailable(f"target {what} command {shlex.join(argv)} did not finish within {deadline_s:g} s"
                                    f" (profile [target] {what}{bound})") from None
        except OSError as exc:
            raise TargetUnavailable(f"target {what} command {shlex.join(argv)} could not run: {exc}") from None


def _argv(command: str | list[str]) -> list[str]:
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    return [sys.executable if part == "python" else part for part in argv]
