"""The sandbox's ECS agent: runs each service's tasks as local processes from their task
definitions, and keeps moto's ECS and ELB state equal to what those processes really do.

A task gets its own loopback address (like an awsvpc ENI); each of its containers is a process with
that container's environment and its secrets resolved from the emulated Secrets Manager, once the
task definition's execution role is seen to allow the image pull, the log streams and the secrets.
A task whose essential container exits becomes a STOPPED task with a ``stoppedReason``, and running < desired
until a replacement is healthy; a non-essential container that exits is STOPPED with its exit code
while the task keeps running, as ECS leaves it. A new deployment whose tasks keep failing ends
FAILED and, with the circuit breaker's rollback on, goes back to the previous revision, as ECS does;
with the breaker off it stays IN_PROGRESS while ECS goes on launching its tasks, throttled.
``stop-task`` stops the processes; a DRAINING container instance loses its tasks and takes no new
ones. Backend tasks are registered in the ALB's target group when they start and deregistered when
they stop; target health is the answer to the target group's own health check (path, port, matcher).
Every step leaves the service event ECS would write.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from filot_contract import aws_names
from filot_gate import execution_role
from filot_gate.iam_policy import refused, role_name, role_policies
from sandbox import ecs_events
from sandbox.config import REPO_ROOT, SandboxConfig
from sandbox.health_probe import Answer, HealthProbe
from sandbox.images import DEFECT_ENV, command_for, image_environment, repository_of
from sandbox.processes import ECS_STOP_TIMEOUT_S, is_alive, stop_process_group

log = logging.getLogger("sandbox.agent")

#: Consecutive task failures after which a deployment is FAILED (the circuit breaker's threshold).
CIRCUIT_BREAKER_FAILURES = 3
#: With the circuit breaker off, seconds between two launches of a revision whose tasks keep failing.
FAILING_START_INTERVAL_S = 10.0
#: Seconds a health check may take before it counts as timed out.
HEALTH_TIMEOUT_S = 2.0
#: (state, reason, description) of a target, as describe-target-health reports it.
TargetHealth = tuple[str, str | None, str | None]
INITIAL: TargetHealth = ("initial", "Elb.RegistrationInProgress", "Target registration is in progress")
#: Seconds a new task's failed target health checks are ignored when the service sets no grace period.
DEFAULT_GRACE_S = 30.0


class TaskStartFailed(Exception):
    """The task could not start (e.g. a secret it references is missing); the message is its stoppedReason."""


@dataclass
class Sidecar:
    """A container of a task beside the service's main one (EPR's audit worker): its own process, log
    file and awslogs stream; when it is not essential its exit leaves the task running."""

    name: str
    essential: bool
    process: subprocess.Popen
    log_path: Path
    log_group: str
    log_stream: str
    #: its exit code, once it exited (reported once, then kept STOPPED)
    exit_code: int | None = None


@dataclass
class LocalTask:
    """One running task: its moto task, its process, its address and where its logs go."""

    arn: str
    task_definition_arn: str
    ip: str
    process: subprocess.Popen
    log_path: Path
    log_group: str = ""
    log_stream: str = ""
    started: float = field(default_factory=time.monotonic)
    healthy: bool = False
    #: PENDING until its container first answers its health check, then RUNNING (as ECS reports it)
    running: bool = False
    target: TargetHealth | None = None
    #: consecutive failed target health checks, and whether the target ever passed one
    target_failures: int = 0
    target_passed: bool = False
    #: the target health check answer last counted (each check counts once, however many ticks see it)
    target_answer: Answer | None = None
    sidecars: list[Sidecar] = field(default_factory=list)
    #: the route the main container's health check asks
    health_path: str = aws_names.HEALTH_CHECK_PATH
    #: started before the service's current deployment (``--force-new-deployment``): replaced like an old revision's
    superseded: bool = False
    #: the defect its image's ENV names (``sandbox.images.DEFECT_ENV``); None for a sound build
    defect: str | None = None


def _now() -> datetime:
    return datetime.now(timezone.utc)


class ServiceRunner:
    """Reconciles one ECS service (desired count, task definition) with local processes."""

    def __init__(self, config: SandboxConfig, key: str, backends: Any) -> None:
        self.config = config
        self.key = key
        self.cluster, self.service_name, self.family, self.container = aws_names.SERVICES[key]
        self.backends = backends
        self.tasks: dict[str, LocalTask] = {}
        self.failures: dict[str, int] = {}
        self.probe = HealthProbe(HEALTH_TIMEOUT_S)
        self.steady = False
        self.unplaceable: str | None = None
        #: the stoppedReason of the service's last stopped task (what ``up`` shows while it waits)
        self.last_stopped_reason: str | None = None
        #: the PRIMARY deployment this runner's tasks belong to: another id on the same revision is a forced one
        self.deployment_id: str | None = None
        #: with the circuit breaker off, when the next launch of a failing revision may come
        self.next_failing_start = 0.0

    # --- moto access (in-process) ------------------------------------------------------------------

    @property
    def ecs(self) -> Any:
        return self.backends.ecs

    def service(self) -> Any:
        return self.ecs._get_service(self.cluster, self.service_name)

    def _moto_task(self, task: LocalTask) -> Any:
        return self.ecs.tasks[self.cluster][task.arn]

    # --- the loop step -----------------------------------------------------------------------------

    def reconcile(self) -> None:
        service = self.service()
        wanted = service.task_definition
        self._follow_forced_deployment(service)
        self._honour_stop_requests(service)
        self._reap_exited(service)
        self._check_health(service)
        self._stop_replaced_tasks(service, wanted)
        self._leave_draining_instances(service)
        running = self._current(wanted)
        failing = self.failures.get(wanted, 0) >= CIRCUIT_BREAKER_FAILURES
        if failing and _breaker(service).get("enable"):
            self._trip_circuit_breaker(service, wanted)
        else:
            missing = service.desired_count - len(running)
            if missing > 0 and self._can_place(service) and self._may_start_again(failing):
                for _ in range(missing):
                    self._start(service, wanted)
            for task in running[service.desired_count:]:
                self._stop(task, "Task stopped by ECS: service scaled down", service)
        self._report(service)

    def _may_start_again(self, failing: bool) -> bool:
        """With the circuit breaker off, ECS goes on launching a revision whose tasks fail (its deployment
        stays IN_PROGRESS), throttled: once it is failing, one more launch per ``FAILING_START_INTERVAL_S``."""
        if not failing:
            return True
        if time.monotonic() < self.next_failing_start:
            return False
        self.next_failing_start = time.monotonic() + FAILING_START_INTERVAL_S
        return True

    def _current(self, wanted: str) -> list[LocalTask]:
        """The tasks of the service's current deployment."""
        return [t for t in self.tasks.values() if t.task_definition_arn == wanted and not t.superseded]

    def _follow_forced_deployment(self, service: Any) -> None:
        """``update-service --force-new-deployment`` gives the PRIMARY deployment a new id on the same revision:
        as ECS, replace every task started before it, rolling as for a new revision."""
        primary = service.deployments[0] if service.deployments else None
        if primary is None or primary.get("taskDefinition") != service.task_definition:
            return  # a new revision: ``_report`` starts its deployment
        if self.deployment_id not in (None, primary["id"]):
            log.info("%s: new deployment %s of the same revision: its tasks are replaced", self.service_name, primary["id"])
            for task in self.tasks.values():
                task.superseded = True
            primary["rolloutState"], primary["rolloutStateReason"] = "IN_PROGRESS", "ECS deployment in progress."
        self.deployment_id = primary["id"]

    def _stop_replaced_tasks(self, service: Any, wanted: str) -> None:
        """Stop tasks of older revisions, keeping as many as ``minimumHealthyPercent`` needs until the new
        revision's tasks are healthy (a rolling update: with 100 %, a revision that never becomes healthy
        leaves the old tasks serving)."""
        current = self._current(wanted)
        old = [t for t in self.tasks.values() if t not in current]
        percent = int((service.deployment_configuration or {}).get("minimumHealthyPercent", 100))
        healthy_new = sum(1 for t in current if t.healthy)
        keep = max(0, math.ceil(service.desired_count * percent / 100) - healthy_new)
        serving = sorted(old, key=lambda t: not t.healthy)  # the healthy old tasks are the ones kept
        for task in serving[keep:]:
            self._stop(task, "Task stopped by ECS: replaced by a new deployment", service)

    def _honour_stop_requests(self, service: Any) -> None:
        """``aws ecs stop-task`` marked the moto task STOPPED: stop its process, keep the caller's reason."""
        for task in list(self.tasks.values()):
            moto_task = self._moto_task(task)
            if moto_task.desired_status == "STOPPED":
                reason = moto_task.stopped_reason or "Task stopped by user"
                log.warning("task %s of %s stopped by request: %s", ecs_events.short(task.arn), self.service_name, reason)
                self._stop(task, reason, service, stop_code="UserInitiated")

    def _reap_exited(self, service: Any) -> None:
        for task in list(self.tasks.values()):
            self._reap_sidecars(task)
            code = _exit_code(task.process)
            essential_exit = next((s for s in task.sidecars if s.essential and s.exit_code is not None), None)
            if code is None and essential_exit is None:
                continue
            code = code if code is not None else essential_exit.exit_code
            self.failures[task.task_definition_arn] = self.failures.get(task.task_definition_arn, 0) + 1
            reason = f"Essential container in task exited (exit code {code})"
            log.warning("task %s of %s stopped: %s", ecs_events.short(task.arn), self.service_name, reason)
            self._stop(task, reason, service, stop_code="EssentialContainerExited")

    def _reap_sidecars(self, task: LocalTask) -> None:
        """A container beside the main one that exited is STOPPED with its exit code; the task runs on."""
        for sidecar in self._record_sidecar_exits(task):
            log.warning("container %s of task %s (%s) exited with code %d%s", sidecar.name, ecs_events.short(task.arn),
                        self.service_name, sidecar.exit_code,
                        "" if sidecar.essential else "; not essential, the task keeps running")

    def _record_sidecar_exits(self, task: LocalTask) -> list[Sidecar]:
        """Mark each newly exited container beside the main one STOPPED with its own exit code; those are returned."""
        exited = []
        for sidecar in task.sidecars:
            if sidecar.exit_code is not None or (code := _exit_code(sidecar.process)) is None:
                continue
            sidecar.exit_code = code
            container = next((c for c in self._moto_task(task).containers if c.name == sidecar.name), None)
            if container is not None:
                container.last_status, container.exitCode = "STOPPED", code
            exited.append(sidecar)
        return exited

    def _check_health(self, service: Any) -> None:
        """Main-container health from its health check's route; target health from the target group's own check."""
        group = self.backends.target_group_of(service)
        for task in self.tasks.values():
            answer = self.probe.latest(f"http://{task.ip}:{self.config.container_port}{task.health_path}")
            task.healthy = bool(answer and answer.matches())
            moto_task = self._moto_task(task)
            moto_task.health_status = "UNKNOWN" if answer is None else ("HEALTHY" if task.healthy else "UNHEALTHY")
            for container in moto_task.containers:
                container.health_status = moto_task.health_status if container.name == self.container else "UNKNOWN"
            if task.healthy:
                self.failures.pop(task.task_definition_arn, None)
                if not task.running:
                    task.running = True
                    moto_task.last_status = "RUNNING"
            if group is not None and task.ip in group.targets:
                self._observe_target(service, group, task)

    def _observe_target(self, service: Any, group: Any, task: LocalTask) -> None:
        port = group.health_check_port
        port = self.config.container_port if port in (None, "traffic-port") else int(port)
        answer = self.probe.latest(f"http://{task.ip}:{port}{group.health_check_path or '/'}")
        if answer is None or answer is task.target_answer:
            return  # no (new) check finished since the last tick: the target keeps its state
        task.target_answer = answer
        health = _target_health(answer, (group.matcher or {}).get("HttpCode", "200"), group.health_check_enabled)
        if health[0] != "unhealthy":
            task.target_failures = 0
            task.target_passed = task.target_passed or health[0] == "healthy"
        else:
            task.target_failures += 1
            grace = float(getattr(service, "health_check_grace_period_seconds", None) or DEFAULT_GRACE_S)
            if not task.target_passed and time.monotonic() - task.started < grace:
                health = INITIAL  # a starting task: ECS ignores its failed checks for the grace period
            elif task.target_failures < int(group.unhealthy_threshold_count or 2):
                health = task.target or INITIAL  # not yet UnhealthyThresholdCount failures in a row
        if health[0] == "unhealthy" and (task.target or ("",))[0] != "unhealthy":
            ecs_events.record(service, ecs_events.target_unhealthy(task.arn, port, group.arn, health[2] or ""))
        task.target = health
        group.targets[task.ip]["observed"] = health

    def _can_place(self, service: Any) -> bool:
        """EC2 tasks need an ACTIVE container instance; say so in the events when there is none."""
        if service.launch_type != "EC2":
            return True
        instances = list(self.ecs.container_instances.get(self.cluster, {}).values())
        if any(i.status == "ACTIVE" for i in instances):
            self.unplaceable = None
            return True
        reason = ("No Container Instances were found in your cluster." if not instances else
                  f"The closest matching (container-instance {instances[0].container_instance_arn.rsplit('/', 1)[-1]})"
                  f" is {instances[0].status}.")
        if reason != self.unplaceable:
            ecs_events.record(service, ecs_events.unable_to_place(reason))
            log.warning("%s: cannot place a task: %s", self.service_name, reason)
        self.unplaceable = reason
        return False

    def _leave_draining_instances(self, service: Any) -> None:
        """A DRAINING container instance gives up its service tasks, as ECS drains it."""
        for task in list(self.tasks.values()):
            instance_arn = self._moto_task(task).container_instance_arn
            if not instance_arn:
                continue
            instance = self.ecs.container_instances.get(self.cluster, {}).get(instance_arn.rsplit("/", 1)[-1])
            if instance is not None and instance.status == "DRAINING":
                self._stop(task, f"Task stopped by ECS: container instance {instance_arn.rsplit('/', 1)[-1]} is DRAINING",
                           service, stop_code="ServiceSchedulerInitiated")

    def _start(self, service: Any, task_definition_arn: str) -> None:
        task_definition = self.ecs.describe_task_definition(task_definition_arn)
        ip = self._free_ip()
        moto_task = self._register_task(service, task_definition, ip)
        try:  # the ECS agent pulls every image and resolves every secret before it starts any container
            main = next((c for c in task_definition.container_definitions if c["name"] == self.container), None)
            if main is None:
                names = ", ".join(c["name"] for c in task_definition.container_definitions)
                raise TaskStartFailed(f"InvalidParameterException: the service's container {self.container} is not in"
                                      f" {task_definition_arn.rsplit('/', 1)[-1]} (its containers: {names})")
            self._check_execution_role(task_definition)
            commands = {c["name"]: _command(c) for c in task_definition.container_definitions}
            envs = {c["name"]: self._environment(c, task_definition_arn, moto_task.id, ip)
                    for c in task_definition.container_definitions}
        except TaskStartFailed as exc:
            self.failures[task_definition_arn] = self.failures.get(task_definition_arn, 0) + 1
            self._release(moto_task)
            self._mark_stopped(moto_task, str(exc), "TaskFailedToStart", exit_code=None)
            log.warning("task %s of %s did not start: %s", moto_task.id, self.service_name, exc)
            return
        process, log_path = self._run_container(commands[main["name"]], envs[main["name"]], f"{moto_task.id}.log")
        group, stream = _log_destination(main, moto_task.id)
        task = LocalTask(moto_task.task_arn, task_definition_arn, ip, process, log_path, group, stream,
                         health_path=_health_path(main), defect=envs[main["name"]].get(DEFECT_ENV) or None)
        for container in task_definition.container_definitions:
            if container["name"] != self.container:
                name = container["name"]
                sidecar, sidecar_log = self._run_container(commands[name], envs[name], f"{moto_task.id}.{name}.log")
                task.sidecars.append(Sidecar(name, container.get("essential", True), sidecar, sidecar_log,
                                             *_log_destination(container, moto_task.id)))
        self.tasks[moto_task.task_arn] = task
        moto_task.last_status = "PENDING"
        moto_task.started_at = _now()
        for c in moto_task.containers:
            c.last_status = "RUNNING"
        ecs_events.record(service, ecs_events.started(task.arn))
        self._register_target(service, task)
        log.info("started task %s of %s on %s (%s)", moto_task.id, self.service_name, ip, task_definition_arn.rsplit("/", 1)[-1])

    def _run_container(self, command: list[str], env: dict[str, str], log_name: str) -> tuple[subprocess.Popen, Path]:
        """One container as a process in its own process group, its output appended to its log file."""
        log_path = self.config.logs_dir / self.key / log_name
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                       cwd=REPO_ROOT, start_new_session=True)
        return process, log_path

    def _register_task(self, service: Any, task_definition: Any, ip: str) -> Any:
        """Record the task in moto as ECS would: on the service's network, on a container instance for EC2."""
        from moto.ecs.models import Task

        cluster = self.ecs._get_cluster(self.cluster)
        active = [i for i in self.ecs.container_instances.get(self.cluster, {}).values() if i.status == "ACTIVE"]
        instance = active[0] if service.launch_type == "EC2" and active else None
        reserved = {"CPU": int(task_definition.cpu or 0), "MEMORY": int(task_definition.memory or 0), "PORTS": []}
        task = Task(
            cluster, task_definition, instance.container_instance_arn if instance else None,
            resource_requirements=reserved, backend=self.ecs, group=f"service:{self.service_name}",
            launch_type=service.launch_type or "", started_by=f"ecs-svc/{self.service_name}",
            networking_configuration=service.network_configuration,
        )
        task._transitions = []  # the agent, not moto's describe counter, moves the task through its states
        # as ECS: a task takes ECS Exec from its service when it starts, and keeps it
        task.enable_execute_command = bool(getattr(service, "enable_execute_command", False))
        task.containers = [_container(task_definition, c) for c in task_definition.container_definitions]
        if instance is not None:  # the instance's remainingResources shrink by the task's reservation
            self.ecs.update_container_instance_resources(instance, reserved)
        for attachment in task.attachments:  # the task's ENI carries the loopback address its process uses
            for detail in attachment["details"]:
                if detail["name"] == "privateIPv4Address":
                    detail["value"] = ip
        self.ecs.tasks.setdefault(cluster.name, {})[task.task_arn] = task
        return task

    def _environment(self, container: dict, task_definition_arn: str, task_id: str, ip: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "HOME", "TESSDATA_PREFIX")}
        env.update(self._image_environment(container.get("image") or ""))
        env.update({e["name"]: e["value"] for e in container.get("environment", [])})
        for secret in container.get("secrets", []):
            env[secret["name"]] = self._resolve_secret(secret["valueFrom"])
        env.update({
            "HOST": ip,
            "PORT": str(self.config.container_port),
            "WORKER_HEALTH_PORT": str(self.config.container_port),
            "WORKER_ID": f"{self.key}-{task_id[:8]}",
            "REDIS_TLS_CA_FILE": str(self.config.ca_file),
            "TEMPORAL_TLS": "false",  # the sandbox's Temporal is the CLI's dev server: plaintext gRPC
            "FILOT_TASK_DEFINITION_ARN": task_definition_arn,
            "FILOT_TASK_ARN": task_id,
            "FILOT_IMAGE": container["image"],
            "AWS_DEFAULT_REGION": self.config.region,
            "AWS_ENDPOINT_URL": self.config.aws_endpoint_url,  # the task role's AWS (EPR's SQS) is the sandbox's
            "AWS_ACCESS_KEY_ID": env.get("CF_R2_ACCESS_KEY_ID", "sandbox"),
            "AWS_SECRET_ACCESS_KEY": env.get("CF_R2_SECRET_ACCESS_KEY", "sandbox"),
            "PYTHONUNBUFFERED": "1",
        })
        return env

    def _check_execution_role(self, task_definition: Any) -> None:
        """What ECS asks IAM for with the execution role before a task starts (image pull, log streams,
        secrets); the first refusal stops the task with the error ECS reports for it."""
        from botocore.exceptions import BotoCoreError, ClientError

        described = {"containerDefinitions": task_definition.container_definitions,
                     "executionRoleArn": getattr(task_definition, "execution_role_arn", None)}  # moto sets it only when given
        wanted = execution_role.needs(described, self.config.region, self.config.account_id)
        if not wanted:
            return
        arn = described["executionRoleArn"]
        if not arn:
            raise TaskStartFailed("ResourceInitializationError: unable to pull secrets or registry auth:"
                                  " the task definition has no execution role")
        try:
            policies = role_policies(self.backends.iam, role_name(arn))
        except self.backends.iam.exceptions.NoSuchEntityException:
            raise TaskStartFailed(f"ResourceInitializationError: unable to assume execution role {arn}: it does not exist") from None
        except (BotoCoreError, ClientError) as exc:
            raise TaskStartFailed(f"ResourceInitializationError: execution role {arn} unreadable: {exc}") from None
        for action, resource in refused(policies.values(), wanted)[:1]:
            raise TaskStartFailed(_refusal(arn, action, resource))

    def _image_environment(self, image: str) -> dict[str, str]:
        """The ENV of ``image`` (``<registry>/<repository>@<digest>``) as ECR holds it; none for an image
        it does not hold or a reference by tag (the sandbox pins every image by digest)."""
        digest = image.rpartition("@")[2] if "@" in image else ""
        found = self.backends.ecr.repositories.get(repository_of(image))
        manifest = next((i.image_manifest for i in found.images if i.image_digest == digest), None) if found else None
        return image_environment(manifest) if manifest else {}

    def _resolve_secret(self, value_from: str) -> str:
        """``arn:...:secret:NAME-xxxxxx[:JSONKEY::]`` -> the value, as the ECS agent does before start.

        A secret or key that cannot be read stops the task the way ECS reports it.
        """
        from moto.secretsmanager.exceptions import SecretNotFoundException, SecretsManagerClientError

        prefix, _, rest = value_from.partition(":secret:")
        name, _, json_key = rest.partition(":")
        json_key = json_key.split(":", 1)[0]
        try:
            secret = self.backends.secretsmanager.get_secret_value(f"{prefix}:secret:{name}", None, None)["SecretString"]
            return json.loads(secret)[json_key] if json_key else secret
        except (SecretNotFoundException, SecretsManagerClientError, KeyError, ValueError) as exc:
            raise TaskStartFailed(
                "ResourceInitializationError: unable to pull secrets or registry auth: "
                f"retrieve secret from {value_from}: {type(exc).__name__}"
            ) from None

    def _free_ip(self) -> str:
        used = {t.ip for t in self.tasks.values()}
        return next(ip for n in range(1, 250) if (ip := self.config.task_ip(self.key, n)) not in used)

    def _stop(self, task: LocalTask, reason: str, service: Any, stop_code: str = "ServiceSchedulerInitiated") -> None:
        stop_containers([task])
        self._record_sidecar_exits(task)  # each keeps its own exit code; the main container's is the task's
        self._forget(task, reason, service, stop_code=stop_code, exit_code=_exit_code(task.process))

    def _forget(self, task: LocalTask, reason: str, service: Any, stop_code: str, exit_code: int | None) -> None:
        moto_task = self._moto_task(task)
        self._release(moto_task)
        self._mark_stopped(moto_task, reason, stop_code, exit_code)
        self.tasks.pop(task.arn, None)
        self.probe.forget(f"http://{task.ip}:")
        ecs_events.record(service, ecs_events.stopped(task.arn))
        self._deregister_target(service, task)

    def _mark_stopped(self, moto_task: Any, reason: str, stop_code: str, exit_code: int | None) -> None:
        _mark_stopped(moto_task, reason, stop_code, exit_code)
        self.last_stopped_reason = reason

    def _release(self, moto_task: Any) -> None:
        """Give the task's reservation back to its container instance (``stop-task`` already did)."""
        if not moto_task.container_instance_arn or moto_task.desired_status == "STOPPED":
            return
        instance = self.ecs.container_instances.get(self.cluster, {}).get(moto_task.container_instance_arn.rsplit("/", 1)[-1])
        if instance is not None:
            self.ecs.update_container_instance_resources(instance, moto_task.resource_requirements, removing=True)

    def _trip_circuit_breaker(self, service: Any, failed_arn: str) -> None:
        """As ECS: the deployment is FAILED; with rollback on, the service returns to the last good revision."""
        if service.task_definition != failed_arn:
            return  # an operator deployed another revision since this tick began: it is not failing
        breaker = _breaker(service)
        primary = service.deployments[0] if service.deployments else {}
        if primary.get("rolloutState") != "FAILED":
            primary["rolloutState"] = "FAILED"
            primary["rolloutStateReason"] = (f"ECS deployment circuit breaker: tasks failed to start"
                                             f" ({CIRCUIT_BREAKER_FAILURES} in a row)")
            ecs_events.record(service, ecs_events.deployment_failed(primary.get("id", "-")))
        previous = getattr(service, "sandbox_last_good", None)
        if breaker.get("enable") and breaker.get("rollback") and previous and previous != failed_arn:
            log.warning("circuit breaker: %s rolls back to %s", self.service_name, previous)
            ecs_events.record(service, ecs_events.rolling_back(primary.get("id", "-"), previous))
            service.task_definition = previous
            self.failures.pop(failed_arn, None)

    def _report(self, service: Any) -> None:
        """Write the truth into moto: running/pending counts and the PRIMARY deployment's rollout state."""
        wanted = service.task_definition
        healthy = sum(1 for t in self._current(wanted) if t.healthy)
        alive = [t for t in self.tasks.values() if t.process.poll() is None]
        service.running_count = sum(1 for t in alive if t.running)
        service.pending_count = len(alive) - service.running_count
        now = time.time()
        if not service.deployments or service.deployments[0].get("taskDefinition") != wanted:
            service.deployments.insert(0, {
                "id": f"ecs-svc/{uuid.uuid4().int % 10**19}", "status": "PRIMARY", "taskDefinition": wanted,
                "desiredCount": service.desired_count, "createdAt": now, "updatedAt": now,
                "launchType": service.launch_type, "rolloutState": "IN_PROGRESS",
                "rolloutStateReason": "ECS deployment in progress.",
            })
            self.deployment_id = service.deployments[0]["id"]
        for old in service.deployments[1:]:
            old["runningCount"] = sum(1 for t in alive if t.task_definition_arn == old.get("taskDefinition") and t.running)
            old["status"] = "ACTIVE" if old["runningCount"] else "INACTIVE"
        service.deployments[1:] = [old for old in service.deployments[1:] if old["status"] == "ACTIVE"]
        primary = service.deployments[0]
        primary.update({"desiredCount": service.desired_count, "runningCount": healthy,
                        "pendingCount": service.pending_count, "updatedAt": now})
        if primary.get("rolloutState") not in ("FAILED", "COMPLETED") and healthy >= service.desired_count:
            primary["rolloutState"], primary["rolloutStateReason"] = "COMPLETED", "ECS deployment completed."
            ecs_events.record(service, ecs_events.deployment_completed(primary["id"]))
        if primary.get("rolloutState") == "COMPLETED":
            service.sandbox_last_good = wanted
            del service.deployments[1:]
        steady = (primary.get("rolloutState") == "COMPLETED" and healthy == service.desired_count
                  and service.running_count == service.desired_count)
        if steady and not self.steady:
            ecs_events.record(service, ecs_events.steady())
        self.steady = steady

    # --- the service's target group (backend and EPR tasks) --------------------------------------------

    def _register_target(self, service: Any, task: LocalTask) -> None:
        """ECS registers a task's ENI address in the service's target group when the task starts."""
        group = self.backends.target_group_of(service)
        if group is None:
            return
        group.targets[task.ip] = {"Id": task.ip, "Port": self.config.container_port, "observed": INITIAL}
        task.target = INITIAL
        ecs_events.record(service, ecs_events.registered(group.arn))

    def _deregister_target(self, service: Any, task: LocalTask) -> None:
        group = self.backends.target_group_of(service)
        if group is None or group.targets.pop(task.ip, None) is None:
            return
        ecs_events.record(service, ecs_events.deregistered(group.arn))

    def healthy_addresses(self) -> list[str]:
        """The addresses the service's target group reports healthy: where its load balancer sends requests."""
        group = self.backends.target_group_of(self.service())
        if group is None:
            return []
        return [ip for ip, t in list(group.targets.items()) if t.get("observed", ("",))[0] == "healthy"]

    def running_builds(self) -> set[str | None]:
        """The builds its running tasks run: each task's image defect, None for a sound build."""
        return {t.defect for t in list(self.tasks.values()) if t.running}

    def shutdown(self) -> None:
        """Forget the tasks (their containers are stopped by ``stop_containers`` first) and close the probe."""
        self.tasks.clear()
        self.probe.close()

    def alive(self) -> int:
        return sum(1 for t in self.tasks.values() if is_alive(t.process.pid))


def _target_health(answer: Answer, http_codes: str, enabled: bool) -> TargetHealth:
    """What an ALB reports for a target after its latest health check."""
    if not enabled:
        return ("unused", "Target.HealthCheckDisabled", "Health checks are disabled")
    if answer.matches(http_codes):
        return ("healthy", None, None)
    if answer.failure == "timeout":
        return ("unhealthy", "Target.Timeout", "Request timed out")
    if answer.failure is not None:
        return ("unhealthy", "Target.FailedHealthChecks", "Health checks failed")
    return ("unhealthy", "Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{answer.status}]")


def _log_destination(container: dict, task_id: str) -> tuple[str, str]:
    """The awslogs group and stream of a task's container: ``<prefix>/<container>/<task id>``."""
    options = (container.get("logConfiguration") or {}).get("options") or {}
    prefix = options.get("awslogs-stream-prefix")
    return options.get("awslogs-group", ""), f"{prefix}/{container['name']}/{task_id}" if prefix else task_id


def _mark_stopped(moto_task: Any, reason: str, stop_code: str, exit_code: int | None) -> None:
    moto_task.last_status = moto_task.desired_status = "STOPPED"
    moto_task.stopped_reason = reason
    moto_task.stop_code = stop_code
    moto_task.stopped_at = _now()
    for container in moto_task.containers:
        if container.last_status != "STOPPED" and exit_code is not None:
            container.exitCode = exit_code
        container.last_status = "STOPPED"


def _container(task_definition: Any, definition: dict) -> Any:
    """moto's record of one container of a task (moto itself records only the first definition's)."""
    from moto.ecs.models import Container

    container = Container(task_definition)
    container.name, container.image = definition["name"], definition.get("image")
    container.command, container.environment = definition.get("command"), definition.get("environment")
    container.cpu, container.memory = definition.get("cpu", 0), definition.get("memory")
    container.exitCode = None  # moto says 0 for a container that never exited; ECS says nothing
    return container


def _breaker(service: Any) -> dict[str, Any]:
    """The service's ``deploymentCircuitBreaker`` (empty: off)."""
    return (service.deployment_configuration or {}).get("deploymentCircuitBreaker") or {}


def _refusal(role_arn: str, action: str, resource: str) -> str:
    """The stoppedReason ECS gives when the execution role may not do ``action`` on ``resource``."""
    denied = f"AccessDeniedException: {role_arn} is not authorized to perform: {action} on resource: {resource}"
    if action.startswith("logs:"):
        return f"CannotStartContainerError: failed to initialize logging driver: {denied}"
    if action.startswith("ecr:"):
        return f"CannotPullContainerError: pull image manifest has been retried: {denied}"
    return f"ResourceInitializationError: unable to pull secrets or registry auth: {denied}"


def _command(container: dict) -> list[str]:
    """The container's program; an image the sandbox has no program for fails the task as a bad image would."""
    try:
        return command_for(container["image"], container.get("command"))
    except ValueError as exc:
        raise TaskStartFailed(f"CannotPullContainerError: {exc}") from None


def _health_path(container: dict) -> str:
    """The route a container's health check asks (``curl -f http://localhost:8080/healthz``)."""
    command = " ".join((container.get("healthCheck") or {}).get("command", []))
    found = re.search(r"localhost:\d+(/\S*)", command)
    return found[1] if found else aws_names.HEALTH_CHECK_PATH


def _exit_code(process: subprocess.Popen) -> int | None:
    """A container's exit code, None while it runs; killed by signal N, it reports 128 + N (137 for KILL)."""
    code = process.poll()
    return None if code is None else (128 - code if code < 0 else code)


def stop_containers(tasks: list[LocalTask]) -> None:
    """Stop every running container of ``tasks`` together, as ECS does: SIGCONT (a container frozen by a
    fault must take its SIGTERM) and SIGTERM to each process group, then one shared stop timeout for all
    of them, KILL after it."""
    running = [p for task in tasks for p in [task.process, *(s.process for s in task.sidecars)] if p.poll() is None]
    for process in running:
        _signal_group(process.pid, signal.SIGCONT)
        _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + ECS_STOP_TIMEOUT_S
    for process in running:
        stop_process_group(process.pid, deadline_s=max(0.1, deadline - time.monotonic()))
        if process.poll() is None:
            process.wait(timeout=5)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
