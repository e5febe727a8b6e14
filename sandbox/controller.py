"""The sandbox's control plane, one process: moto (the AWS endpoint), seeded from the manifests;
the ECS agent that runs each service's tasks; the ALB listener; and the truth bridge that keeps the
emulated AWS equal to reality every tick: task logs shipped to CloudWatch Logs, FiLot's metrics
published to CloudWatch and its alarms judged on them. ``python -m sandbox.controller`` is started
by ``python -m sandbox up`` and stopped by ``down`` (SIGTERM: tasks first, then moto).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from typing import Any

import boto3
from botocore.config import Config

from filot_contract import aws_names
from sandbox.config import REPO_ROOT, SandboxConfig
from sandbox.credentials import environment_values, load_or_create, secret_values

log = logging.getLogger("sandbox.controller")
STATUS_FILE = "controller.json"
TICK_S = 1.0


class Backends:
    """moto's in-process backends for this sandbox's account and region, and its IAM over HTTP."""

    def __init__(self, config: SandboxConfig) -> None:
        from moto.backends import get_backend

        self.ecs = get_backend("ecs")[config.account_id][config.region]
        self.secretsmanager = get_backend("secretsmanager")[config.account_id][config.region]
        self.elbv2 = get_backend("elbv2")[config.account_id][config.region]
        self.logs = get_backend("logs")[config.account_id][config.region]
        self.cloudwatch = get_backend("cloudwatch")[config.account_id][config.region]
        self.ecr = get_backend("ecr")[config.account_id][config.region]
        #: IAM through the sandbox's own endpoint (the agent reads a role's policies as the gate reads them);
        #: short timeouts, since the agent's loop waits on it
        self.iam = boto3.session.Session(region_name=config.region).client(
            "iam", endpoint_url=config.aws_endpoint_url,
            config=Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 2}))

    def target_group_of(self, service: Any) -> Any:
        """The target group a service registers its tasks in (its ``loadBalancers``), or None."""
        arns = [lb.get("targetGroupArn") for lb in getattr(service, "load_balancers", None) or []]
        return next((self.elbv2.target_groups[arn] for arn in arns if arn in self.elbv2.target_groups), None)

    def alb_dimension(self) -> str | None:
        """The ``LoadBalancer`` dimension of the ALB's CloudWatch metrics (None when it is gone)."""
        from filot_gate.manifests import alb_dimension

        found = next((b for b in list(self.elbv2.load_balancers.values()) if b.name == aws_names.ALB_NAME), None)
        return alb_dimension(found.arn) if found else None


def fix_moto() -> None:
    """moto 5.2 builds a task's ENI details from an attribute its NetworkInterface lacks."""
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface

    if not hasattr(NetworkInterface, "private_dns_name"):
        NetworkInterface.private_dns_name = property(
            lambda self: f"ip-{self.private_ip_address.replace('.', '-')}.{self.ec2_backend.region_name}.compute.internal"
        )


def observe_target_health() -> None:
    """Make moto's target health report what the agent observed (moto alone says always healthy)."""
    from moto.elbv2.models import FakeHealthStatus, FakeTargetGroup

    from sandbox.agent import INITIAL

    original = FakeTargetGroup.health_for

    def health_for(self: Any, target: dict, ec2_backend: Any) -> Any:
        known = self.targets.get(target["Id"])
        if known is not None:  # registered: "initial" until the agent has seen its first health check
            return FakeHealthStatus(known["Id"], known["Port"], self.health_check_port, *known.get("observed", INITIAL))
        return original(self, target, ec2_backend)

    FakeTargetGroup.health_for = health_for


def write_initial_deploy_record(config: SandboxConfig, seeded: Any) -> None:
    """The seed deployed the current revision over the previous one: record that, as a deploy step would."""
    from filot_gate.deploy.record import DeployRecord, ServiceRecord, new_run_id, write_record

    services = {}
    for key, (cluster, service, family, _) in aws_names.SERVICES.items():
        previous, current = seeded.task_definitions[key]
        services[key] = ServiceRecord(cluster, service, family, current,
                                      seeded.image_digests[aws_names.REPOSITORIES[key]]["current"], previous)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    write_record(config.deploy_record, DeployRecord(new_run_id(), created, config.region, services))


def run(config: SandboxConfig) -> int:
    from moto.server import ThreadedMotoServer

    from sandbox.agent import ServiceRunner, stop_containers
    from sandbox.alb import LoadBalancer
    from sandbox.aws_seed import seed
    from sandbox.logship import LogShipper

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    moto = ThreadedMotoServer(ip_address=config.host, port=config.aws_port, verbose=False)
    moto.start()
    log.info("AWS endpoint (moto) on %s", config.aws_endpoint_url)
    fix_moto()
    observe_target_health()
    creds = load_or_create(config)
    env = environment_values(config, creds)
    seeded = seed(config.aws_endpoint_url, config.region, config.account_id,
                  secret_values(REPO_ROOT / "production_secrets_required.json", env), task_env={},
                  features=config.features)
    write_initial_deploy_record(config, seeded)
    log.info("emulated AWS seeded from the manifests; deploy record %s", config.deploy_record)
    backends = Backends(config)
    runners = [ServiceRunner(config, key, backends) for key in aws_names.SERVICES]
    by_key = {r.key: r for r in runners}
    alb = LoadBalancer(config.host, config.alb_port, config.container_port, by_key["backend"].healthy_addresses)
    alb.start()
    log.info("ALB listener on %s", config.api_url)
    epr_alb = LoadBalancer(config.host, config.epr_alb_port, config.container_port, by_key["epr"].healthy_addresses,
                           serving=f"the healthy targets of {aws_names.EPR_TARGET_GROUP_NAME}")
    epr_alb.start()
    log.info("EPR load balancer listener on %s", config.epr_api_url)
    upstash = _upstash_rest(config, creds)
    upstash.start()
    log.info("Upstash REST API (EPR's cache) on %s", config.epr_redis_url)
    shipper = LogShipper(backends.logs)
    monitoring = _monitoring(config, creds, env, backends, alb, by_key["backend"])
    steps = [(f"reconcile of {r.service_name}", r.reconcile) for r in runners] + [
        ("log shipping", lambda: shipper.ship(_log_sources(runners))),
        ("metrics and alarms", monitoring.tick),
        ("status file", lambda: _write_status(config, runners)),
    ]
    try:
        while not stop.is_set():
            for name, step in steps:
                try:
                    step()
                except Exception:  # noqa: BLE001 - a control plane outlives one bad step, and says why
                    log.exception("%s failed; retrying next tick", name)
            stop.wait(TICK_S)  # the agent's reconcile period, as the ECS agent polls
    finally:
        log.info("stopping tasks, ALB and AWS endpoint")
        stop_containers([task for runner in runners for task in runner.tasks.values()])  # all at once, one stop timeout
        for runner in runners:
            runner.shutdown()
        alb.stop()
        epr_alb.stop()
        upstash.stop()
        moto.stop()
        (config.run_dir / STATUS_FILE).unlink(missing_ok=True)
    return 0


def _upstash_rest(config: SandboxConfig, creds: dict[str, str]) -> Any:
    """EPR's Upstash REST API on the sandbox's Redis, taking the token the sandbox made for it."""
    import redis

    from sandbox.upstash_rest import UpstashRest

    client = redis.Redis(host=config.host, port=config.redis_port, password=creds["REDIS_PASSWORD"], ssl=True,
                         ssl_ca_certs=str(config.ca_file), socket_timeout=5, socket_connect_timeout=5, decode_responses=True)
    return UpstashRest(config.host, config.upstash_port, creds["EPR_REDIS_TOKEN"], client,
                       config.tls_dir / "server.pem", config.tls_dir / "server.key")


def _monitoring(config: SandboxConfig, creds: dict[str, str], env: dict[str, str], backends: Backends, alb: Any,
                backend: Any) -> Any:
    """Metrics from the real Redis, PostgreSQL and ALB, read with the sandbox's own credentials, published
    as the ``backend`` service's running builds publish them."""
    import redis

    from sandbox.metrics_bridge import Monitoring, SystemSampler

    def redis_client() -> redis.Redis:
        return redis.Redis(host=config.host, port=config.redis_port, password=creds["REDIS_PASSWORD"], ssl=True,
                           ssl_ca_certs=str(config.ca_file), socket_timeout=2, socket_connect_timeout=2)

    sampler = SystemSampler(redis_client, env["DATABASE_URL"])
    return Monitoring(backends.cloudwatch, sampler, alb.traffic.drain, backends.alb_dimension, config.alarm_minute_s,
                      backend.running_builds)


def _log_sources(runners: list) -> list:
    from sandbox.logship import LogSource

    return [LogSource(path, group, stream) for r in runners for t in list(r.tasks.values())
            for path, group, stream in [(t.log_path, t.log_group, t.log_stream),
                                        *((s.log_path, s.log_group, s.log_stream) for s in t.sidecars)]]


def _write_status(config: SandboxConfig, runners: list) -> None:
    status = {
        "updatedAt": time.time(),
        "services": {
            r.key: {
                "desired": r.service().desired_count,
                "healthy": sum(1 for t in r.tasks.values() if t.healthy),
                "taskDefinition": r.service().task_definition,
                "lastStoppedReason": r.last_stopped_reason,
                "tasks": [{"task": t.arn.rsplit("/", 1)[-1], "taskDefinition": t.task_definition_arn, "ip": t.ip,
                           "pid": t.process.pid, "healthy": t.healthy, "log": str(t.log_path),
                           "logGroup": t.log_group, "logStream": t.log_stream,
                           "sidecars": {s.name: {"pid": s.process.pid, "exitCode": s.exit_code, "log": str(s.log_path),
                                                   "logStream": s.log_stream} for s in t.sidecars}}
                          for t in r.tasks.values()],
            }
            for r in runners
        },
    }
    path = config.run_dir / STATUS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status, indent=2))
    tmp.replace(path)


def read_status(config: SandboxConfig) -> dict | None:
    try:
        return json.loads((config.run_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per health check says nothing
    return run(SandboxConfig())


if __name__ == "__main__":
    sys.exit(main())
