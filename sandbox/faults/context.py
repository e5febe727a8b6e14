"""What a fault works with: the running sandbox's AWS endpoint (boto3, as an operator's CLI), its
Redis and PostgreSQL (with the sandbox's own credentials, not the possibly broken secrets), the BULI2
simulator's admin API, the controller's view of the tasks, and bounded waits for the result."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Callable, TypeVar

from filot_contract import aws_names
from filot_gate.polling import poll_until
from sandbox.config import SandboxConfig
from sandbox.credentials import FILE_NAME, environment_values, load_or_create
from sandbox.faults.model import FaultError, Saved

T = TypeVar("T")


class FaultContext:
    """Clients of one running sandbox, made on first use."""

    def __init__(self, config: SandboxConfig, say: Callable[[str], None] = print) -> None:
        if not (config.home / FILE_NAME).exists():
            raise FaultError(f"no sandbox in {config.home}: start it with `python -m sandbox up`")
        self.config = config
        self.say = say
        self.creds = load_or_create(config)
        self.env = environment_values(config, self.creds)
        #: names of the faults active when this one is injected or healed
        self.active: set[str] = set()
        #: what the injection kept for the heal so far (``keep``)
        self.saved: Saved = {}
        self._clients: dict[str, Any] = {}

    def keep(self, saved: Saved) -> Saved:
        """Keep what the heal will need, before the change it undoes: an injection that fails after the
        change is then healed with it (``sandbox.faults.inject``). Returns everything kept so far."""
        self.saved.update(saved)
        return self.saved

    # --- clients -------------------------------------------------------------------------------

    def client(self, name: str) -> Any:
        if name not in self._clients:
            import boto3
            from botocore.config import Config

            self._clients[name] = boto3.client(
                name, region_name=self.config.region, endpoint_url=self.config.aws_endpoint_url,
                aws_access_key_id="sandbox", aws_secret_access_key="sandbox",
                config=Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30))
        return self._clients[name]

    def redis(self) -> Any:
        """An admin connection to the sandbox's Redis, also while a fault removed its password."""
        import redis

        def connect(password: str | None) -> redis.Redis:
            client = redis.Redis(host=self.config.host, port=self.config.redis_port, password=password, ssl=True,
                                 ssl_ca_certs=str(self.config.ca_file), socket_timeout=5, decode_responses=True)
            client.ping()
            return client

        try:
            return connect(self.creds["REDIS_PASSWORD"])
        except redis.ResponseError as exc:  # "AUTH ... called without any password configured"
            if "without any password configured" not in str(exc):
                raise
            return connect(None)

    def db(self) -> Any:
        import psycopg

        return psycopg.connect(self.env["DATABASE_URL"], connect_timeout=5, autocommit=True)

    def buli2_mode(self, mode: str, bad_signature: bool) -> None:
        import httpx

        answer = httpx.post(f"{self.config.buli2_url}/admin/mode", json={"mode": mode, "badSignature": bad_signature},
                            timeout=10)
        if answer.status_code != 200:
            raise FaultError(f"BULI2 simulator POST /admin/mode: expected 200, got {answer.status_code}: {answer.text[:200]}")

    # --- the sandbox's own view ------------------------------------------------------------------

    def tasks(self, key: str) -> list[dict[str, Any]]:
        """The controller's tasks of a service ("backend", "ocr-gpu"): task id, pid, ip, log stream."""
        return self.service_status(key)["tasks"]

    def service_status(self, key: str) -> dict[str, Any]:
        """The controller's view of one service: its desired count, healthy count and tasks."""
        from sandbox.controller import read_status

        status = read_status(self.config)
        if status is None:
            raise FaultError("the sandbox's controller is not running: start it with `python -m sandbox up`")
        return status["services"][key]

    def record(self) -> dict[str, Any]:
        return json.loads(self.config.deploy_record.read_text())

    def manifest_params(self) -> Any:
        """The manifests' parameters for this sandbox (account, region, its ALB)."""
        from filot_gate.manifests import ManifestParams

        balancer = self.client("elbv2").describe_load_balancers(Names=[aws_names.ALB_NAME])["LoadBalancers"][0]
        params = ManifestParams.from_image_versions(self.config.account_id, self.config.region, "current")
        return replace(params, load_balancer_arn=balancer["LoadBalancerArn"])

    # --- waits -----------------------------------------------------------------------------------

    def wait(self, read: Callable[[], T], done: Callable[[T], bool], awaited: str,
             describe: Callable[[T], str] = str, deadline_s: float | None = None) -> T:
        """Poll until ``done``; at the deadline, a FaultError naming what was awaited and the last state."""
        deadline = deadline_s if deadline_s is not None else self.config.start_deadline_s * 2
        value = poll_until(read, done, deadline_s=deadline, awaited=awaited, describe=describe,
                           interval_s=0.5, progress=self.say)
        if not done(value):
            raise FaultError(f"{awaited}: not reached within {deadline:.0f}s; last seen {describe(value)}")
        return value

    def wait_stable(self, key: str, task_definition: str | None = None) -> None:
        """The service is stable (one COMPLETED deployment, running == desired) on the revision, and the
        agent's own tasks agree: moto's UpdateService sets runningCount to a new desiredCount at once, before
        the agent has started or stopped a single task."""
        from filot_gate.deploy import wait_for_stable

        cluster, service, _, _ = aws_names.SERVICES[key]
        ecs = self.client("ecs")
        wait_for_stable(ecs, cluster, service, task_definition=task_definition,
                        deadline_s=self.config.start_deadline_s * 3, poll_s=0.5, progress=self.say)
        desired = ecs.describe_services(cluster=cluster, services=[service])["services"][0]["desiredCount"]

        def agreed(status: dict[str, Any]) -> bool:
            """The agent has seen the new desired count (its status file may still be a tick old) and met it."""
            revisions = {t["taskDefinition"] for t in status["tasks"]}
            return (status["healthy"] == status["desired"] == len(status["tasks"]) == desired
                    and (task_definition is None or revisions <= {task_definition}))

        self.wait(lambda: self.service_status(key), agreed,
                  f"the agent's tasks of {service}: {desired} as desired, all healthy",
                  describe=lambda s: f"{len(s['tasks'])} tasks, {s['healthy']} healthy, desired {s['desired']}")

    def wait_alarm(self, name: str, state: str) -> None:
        """An alarm reaches a state (it is judged once per ``alarm_minute_s`` of sandbox time)."""
        def read() -> tuple[str, str]:
            alarm = self.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
            return (alarm[0]["StateValue"], alarm[0]["StateReason"]) if alarm else ("(absent)", "")

        periods = 12  # the longest FiLot alarm needs 10 periods
        self.wait(read, lambda seen: seen[0] == state, f"alarm {name} in {state}",
                  describe=lambda seen: f"{seen[0]} ({seen[1][:160]})", deadline_s=periods * self.config.alarm_minute_s + 15)
