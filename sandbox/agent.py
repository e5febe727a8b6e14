"""The sandbox's ECS agent: runs each service's tasks as local processes from their task
definitions, and keeps moto's ECS and ELB state equal to what those processes really do.

A task process gets its own loopback address (like an awsvpc ENI), the container's environment and
its secrets resolved from the emulated Secrets Manager. A task that exits becomes a STOPPED task
with a ``stoppedReason``; running < desired until a replacement is healthy; a new deployment whose
tasks keep failing ends FAILED and, with the circuit breaker's rollback on, goes back to the
previous revision, as ECS does.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from filot_contract import aws_names
from sandbox.config import REPO_ROOT, SandboxConfig
from sandbox.images import command_for
from sandbox.processes import is_alive, stop_process_group

log = logging.getLogger("sandbox.agent")

#: Consecutive task failures after which a deployment is FAILED (the circuit breaker's threshold).
CIRCUIT_BREAKER_FAILURES = 3


class TaskStartFailed(Exception):
    """The task could not start (e.g. a secret it references is missing); the message is its stoppedReason."""


@dataclass
class LocalTask:
    """One running task: its moto task, its process and its address."""

    arn: str
    task_definition_arn: str
    ip: str
    process: subprocess.Popen
    log_path: Path
    started: float = field(default_factory=time.monotonic)
    healthy: bool = False


class ServiceRunner:
    """Reconciles one ECS service (desired count, task definition) with local processes."""

    def __init__(self, config: SandboxConfig, key: str, backends: Any) -> None:
        self.config = config
        self.key = key
        self.cluster, self.service_name, self.family, self.container = aws_names.SERVICES[key]
        self.backends = backends
        self.tasks: dict[str, LocalTask] = {}
        self.failures: dict[str, int] = {}
        self.http = httpx.Client(timeout=httpx.Timeout(2.0, connect=1.0))

    # --- moto access (in-process) ------------------------------------------------------------------

    @property
    def ecs(self) -> Any:
        return self.backends.ecs

    def service(self) -> Any:
        return self.ecs._get_service(self.cluster, self.service_name)

    # --- the loop step -----------------------------------------------------------------------------

    def reconcile(self) -> None:
        service = self.service()
        wanted = service.task_definition
        self._reap_exited(service)
        self._check_health()
        for task in [t for t in self.tasks.values() if t.task_definition_arn != wanted]:
            self._stop(task, "Task stopped by ECS: replaced by a new deployment", service)
        running = [t for t in self.tasks.values() if t.task_definition_arn == wanted]
        if self.failures.get(wanted, 0) >= CIRCUIT_BREAKER_FAILURES:
            self._trip_circuit_breaker(service, wanted)
        else:
            for _ in range(service.desired_count - len(running)):
                self._start(service, wanted)
            for task in running[service.desired_count:]:
                self._stop(task, "Task stopped by ECS: service scaled down", service)
        self._report(service)

    def _reap_exited(self, service: Any) -> None:
        for task in list(self.tasks.values()):
            code = task.process.poll()
            if code is None:
                continue
            self.failures[task.task_definition_arn] = self.failures.get(task.task_definition_arn, 0) + 1
            reason = f"Essential container in task exited (exit code {code})"
            log.warning("task %s of %s stopped: %s", task.arn.rsplit("/", 1)[-1], self.service_name, reason)
            self._forget(task, reason, service)

    def _check_health(self) -> None:
        for task in self.tasks.values():
            try:
                task.healthy = self.http.get(f"http://{task.ip}:{self.config.container_port}/health").status_code == 200
            except httpx.HTTPError:
                task.healthy = False
            if task.healthy:
                self.failures.pop(task.task_definition_arn, None)

    def _start(self, service: Any, task_definition_arn: str) -> None:
        task_definition = self.ecs.describe_task_definition(task_definition_arn)
        container = next(c for c in task_definition.container_definitions if c["name"] == self.container)
        ip = self._free_ip()
        moto_task = self._register_task(service, task_definition, ip)
        log_path = self.config.logs_dir / self.key / f"{moto_task.id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            env = self._environment(container, task_definition_arn, moto_task.id, ip)
        except TaskStartFailed as exc:
            self.failures[task_definition_arn] = self.failures.get(task_definition_arn, 0) + 1
            moto_task.last_status = moto_task.desired_status = "STOPPED"
            moto_task.stopped_reason = str(exc)
            log.warning("task %s of %s did not start: %s", moto_task.id, self.service_name, exc)
            return
        with open(log_path, "ab") as out:
            process = subprocess.Popen(command_for(container["image"]), stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=env, cwd=REPO_ROOT, start_new_session=True)
        self.tasks[moto_task.task_arn] = LocalTask(moto_task.task_arn, task_definition_arn, ip, process, log_path)
        log.info("started task %s of %s on %s (%s)", moto_task.id, self.service_name, ip, task_definition_arn.rsplit("/", 1)[-1])

    def _register_task(self, service: Any, task_definition: Any, ip: str) -> Any:
        """Record the task in moto as ECS would: on the service's network, on a container instance for EC2."""
        from moto.ecs.models import Task

        cluster = self.ecs._get_cluster(self.cluster)
        instances = list(self.ecs.container_instances.get(self.cluster, {}).values())
        on_ec2 = service.launch_type == "EC2"
        task = Task(
            cluster, task_definition, instances[0].container_instance_arn if on_ec2 and instances else None,
            resource_requirements=None, backend=self.ecs, group=f"service:{self.service_name}",
            launch_type=service.launch_type or "", started_by=f"ecs-svc/{self.service_name}",
            networking_configuration=service.network_configuration,
        )
        for attachment in task.attachments:  # the task's ENI carries the loopback address its process uses
            for detail in attachment["details"]:
                if detail["name"] == "privateIPv4Address":
                    detail["value"] = ip
        self.ecs.tasks.setdefault(cluster.name, {})[task.task_arn] = task
        return task

    def _environment(self, container: dict, task_definition_arn: str, task_id: str, ip: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "HOME", "TESSDATA_PREFIX")}
        env.update({e["name"]: e["value"] for e in container.get("environment", [])})
        for secret in container.get("secrets", []):
            env[secret["name"]] = self._resolve_secret(secret["valueFrom"])
        env.update({
            "HOST": ip,
            "PORT": str(self.config.container_port),
            "WORKER_HEALTH_PORT": str(self.config.container_port),
            "WORKER_ID": f"{self.key}-{task_id[:8]}",
            "REDIS_TLS_CA_FILE": str(self.config.ca_file),
            "FILOT_TASK_DEFINITION_ARN": task_definition_arn,
            "FILOT_TASK_ARN": task_id,
            "FILOT_IMAGE": container["image"],
            "AWS_DEFAULT_REGION": self.config.region,
            "AWS_ACCESS_KEY_ID": env.get("CF_R2_ACCESS_KEY_ID", "sandbox"),
            "AWS_SECRET_ACCESS_KEY": env.get("CF_R2_SECRET_ACCESS_KEY", "sandbox"),
            "PYTHONUNBUFFERED": "1",
        })
        return env

    def _resolve_secret(self, value_from: str) -> str:
        """``arn:...:secret:NAME-xxxxxx[:JSONKEY::]`` -> the value, as the ECS agent does before start.

        A secret or key that cannot be read stops the task the way ECS reports it.
        """
        from moto.secretsmanager.exceptions import SecretNotFoundException

        prefix, _, rest = value_from.partition(":secret:")
        name, _, json_key = rest.partition(":")
        json_key = json_key.split(":", 1)[0]
        try:
            secret = self.backends.secretsmanager.get_secret_value(f"{prefix}:secret:{name}", None, None)["SecretString"]
            return json.loads(secret)[json_key] if json_key else secret
        except (SecretNotFoundException, KeyError, ValueError) as exc:
            raise TaskStartFailed(
                "ResourceInitializationError: unable to pull secrets or registry auth: "
                f"retrieve secret from {value_from}: {type(exc).__name__}"
            ) from None

    def _free_ip(self) -> str:
        used = {t.ip for t in self.tasks.values()}
        return next(ip for n in range(1, 250) if (ip := self.config.task_ip(self.key, n)) not in used)

    def _stop(self, task: LocalTask, reason: str, service: Any) -> None:
        stop_process_group(task.process.pid, deadline_s=15)
        task.process.wait(timeout=5)
        self._forget(task, reason, service)

    def _forget(self, task: LocalTask, reason: str, service: Any) -> None:
        moto_task = self.ecs.tasks[self.cluster][task.arn]
        moto_task.last_status = moto_task.desired_status = "STOPPED"
        moto_task.stopped_reason = reason
        self.tasks.pop(task.arn, None)

    def _trip_circuit_breaker(self, service: Any, failed_arn: str) -> None:
        """As ECS: the deployment is FAILED; with rollback on, the service returns to the last good revision."""
        breaker = (service.deployment_configuration or {}).get("deploymentCircuitBreaker", {})
        primary = service.deployments[0] if service.deployments else {}
        primary["rolloutState"] = "FAILED"
        primary["rolloutStateReason"] = f"ECS deployment circuit breaker: tasks failed to start ({CIRCUIT_BREAKER_FAILURES} in a row)"
        previous = getattr(service, "sandbox_last_good", None)
        if breaker.get("enable") and breaker.get("rollback") and previous and previous != failed_arn:
            log.warning("circuit breaker: %s rolls back to %s", self.service_name, previous)
            service.task_definition = previous
            service.sandbox_failed_deployment = dict(primary)
            self.failures.pop(failed_arn, None)

    def _report(self, service: Any) -> None:
        """Write the truth into moto: running/pending counts and the PRIMARY deployment's rollout state."""
        wanted = service.task_definition
        healthy = sum(1 for t in self.tasks.values() if t.task_definition_arn == wanted and t.healthy)
        service.running_count = sum(1 for t in self.tasks.values() if t.process.poll() is None)
        service.pending_count = max(service.desired_count - healthy, 0)
        now = time.time()
        if not service.deployments or service.deployments[0].get("taskDefinition") != wanted:
            service.deployments.insert(0, {
                "id": f"ecs-svc/{uuid.uuid4().int % 10**19}", "status": "PRIMARY", "taskDefinition": wanted,
                "desiredCount": service.desired_count, "createdAt": now, "updatedAt": now,
                "launchType": service.launch_type, "rolloutState": "IN_PROGRESS",
                "rolloutStateReason": "ECS deployment in progress.",
            })
        for old in service.deployments[1:]:
            old["status"] = "ACTIVE" if old.get("runningCount") else "INACTIVE"
        del service.deployments[2:]
        primary = service.deployments[0]
        primary.update({"desiredCount": service.desired_count, "runningCount": healthy,
                        "pendingCount": service.pending_count, "updatedAt": now})
        if primary.get("rolloutState") != "FAILED" and healthy >= service.desired_count:
            primary["rolloutState"], primary["rolloutStateReason"] = "COMPLETED", "ECS deployment completed."
            service.sandbox_last_good = wanted
            if len(service.deployments) > 1:
                del service.deployments[1:]
        self._report_targets(healthy_tasks=[t for t in self.tasks.values() if t.healthy],
                             all_tasks=list(self.tasks.values()))

    def _report_targets(self, healthy_tasks: list[LocalTask], all_tasks: list[LocalTask]) -> None:
        """Backend tasks are the ALB target group's targets; their health is their /health answer."""
        if self.key != "backend":
            return
        group = self.backends.target_group()
        if group is None:
            return
        live = {t.ip for t in all_tasks}
        for ip in [i for i in group.targets if i not in live and not group.targets[i].get("sandbox_pinned")]:
            group.targets.pop(ip)
        for task in all_tasks:
            target = group.targets.setdefault(task.ip, {"Id": task.ip, "Port": self.config.container_port})
            target["observed"] = ("healthy", None, None) if task.healthy else (
                "unhealthy", "Target.ResponseCodeMismatch", "Health checks failed with these codes: [503]")

    def healthy_addresses(self) -> list[str]:
        group = self.backends.target_group()
        if group is None:
            return []
        return [ip for ip, t in group.targets.items() if t.get("observed", ("",))[0] == "healthy"]

    def shutdown(self) -> None:
        for task in list(self.tasks.values()):
            stop_process_group(task.process.pid, deadline_s=15)
            if task.process.poll() is None:
                task.process.wait(timeout=5)
        self.tasks.clear()

    def alive(self) -> int:
        return sum(1 for t in self.tasks.values() if is_alive(t.process.pid))
