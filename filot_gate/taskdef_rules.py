"""What makes a task definition deployable (DESIGN.md section 5, seeds 000 sections 2-3, 001, 004):
a valid ``register-task-definition`` input, secrets only through ``valueFrom`` (never in plain
``environment``), the GPU resource requirement on the worker, ``awslogs`` into the service's log
group, and a container health check; for EPR, the API essential on port 8080 beside a non-essential
audit worker of the same image, and every variable seed 004 requires set. Problems name the container
and the variable, never a value.
"""

from __future__ import annotations

from typing import Any, Mapping

from filot_contract import aws_names
from filot_gate.manifests import ManifestError, validate_input
from filot_gate.secrets_manifest import SecretsManifest


def as_register_input(described: Mapping[str, Any]) -> dict[str, Any]:
    """A ``describe-task-definition`` answer cut down to what ``register-task-definition`` accepts."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("ecs")
    accepted = model.operation_model("RegisterTaskDefinition").input_shape.members
    return {k: v for k, v in described.items() if k in accepted}


def problems(described: Mapping[str, Any], service_key: str, manifest: SecretsManifest) -> list[str]:
    """Everything wrong with one registered task definition of ``service_key``."""
    found = []
    try:
        validate_input("ecs", "RegisterTaskDefinition", as_register_input(described), "task definition")
    except ManifestError as exc:
        found.append(str(exc).replace("\n", " "))
    containers = described.get("containerDefinitions", [])
    found += _secret_problems(containers, manifest)
    found += _logging_problems(containers, aws_names.LOG_GROUPS[service_key])
    found += _health_check_problems(containers)
    if service_key == "ocr-gpu":
        found += _gpu_problems(containers)
    if service_key == "epr":
        found += _epr_resource_problems(described) + _epr_problems(containers)
    return found


def _secret_problems(containers: list[Mapping[str, Any]], manifest: SecretsManifest) -> list[str]:
    secret_names = {key.name for spec in manifest.secrets for key in spec.keys}
    found = []
    for container in containers:
        plain = sorted(e["name"] for e in container.get("environment", []) if e["name"] in secret_names)
        if plain:
            found.append(f"container {container['name']}: secrets {', '.join(plain)} set in plain environment,"
                         " expected only through secrets/valueFrom")
        for secret in container.get("secrets", []):
            try:
                manifest.resolve_ref(secret["valueFrom"])
            except ValueError as exc:
                found.append(f"container {container['name']}: secret {secret['name']}: {exc}")
    return found


def _logging_problems(containers: list[Mapping[str, Any]], log_group: str) -> list[str]:
    found = []
    for container in containers:
        config = container.get("logConfiguration") or {}
        group = (config.get("options") or {}).get("awslogs-group")
        if config.get("logDriver") != "awslogs" or group != log_group:
            found.append(f"container {container['name']}: expected logDriver awslogs into {log_group},"
                         f" got {config.get('logDriver') or 'no log configuration'} into {group or 'no group'}")
    return found


def _health_check_problems(containers: list[Mapping[str, Any]]) -> list[str]:
    return [f"container {c['name']}: essential container has no healthCheck command"
            for c in containers if c.get("essential", True) and not (c.get("healthCheck") or {}).get("command")]


def _gpu_problems(containers: list[Mapping[str, Any]]) -> list[str]:
    worker = next((c for c in containers if c["name"] == aws_names.GPU_CONTAINER), None)
    if worker is None:
        return [f"expected container {aws_names.GPU_CONTAINER}, the task definition has "
                f"{', '.join(c['name'] for c in containers) or 'none'}"]
    gpus = [r.get("value") for r in worker.get("resourceRequirements", []) if r.get("type") == "GPU"]
    if not gpus or int(gpus[0]) < 1:
        return [f"container {aws_names.GPU_CONTAINER}: expected resourceRequirements GPU >= 1, got {gpus or 'none'}"]
    return []


#: Seed 004 "Required Variables" each EPR container needs (environment or secrets), by container.
EPR_REQUIRED_VARIABLES = {
    aws_names.EPR_CONTAINER: ("EPR_DATABASE_URL", "EPR_REDIS_URL", "EPR_REDIS_TOKEN", "EPR_DOCUMENT_VAULT_TOPIC_ARN"),
    aws_names.EPR_WORKER_CONTAINER: ("EPR_DATABASE_URL", "EPR_AUDIT_SQS_URL"),
}
#: The task size seed 004 allocates by default ("Task Resource Allocation"), which it only ever raises.
EPR_MIN_TASK_SIZE = {"cpu": 512, "memory": 1024}


def _epr_resource_problems(described: Mapping[str, Any]) -> list[str]:
    """The task runs as EPR's task role (the one whose SQS and SNS rights preflight checks) and is at least
    seed 004's 512 CPU units and 1024 MiB, shared by the API and its worker."""
    role = str(described.get("taskRoleArn") or "")
    found = [] if role.endswith(f":role/{aws_names.EPR_TASK_ROLE}") else [
        f"taskRoleArn: expected role {aws_names.EPR_TASK_ROLE}, got {role or 'none'}"]
    for key, least in EPR_MIN_TASK_SIZE.items():
        value = str(described.get(key) or "")
        if not value.isdigit() or int(value) < least:
            found.append(f"task {key}: expected at least {least}, got {value or 'none'}")
    return found


def _epr_problems(containers: list[Mapping[str, Any]]) -> list[str]:
    """Seed 004's multi-container task: the API essential on 8080, the audit worker not essential and
    of the same image (so the worker's exit never stops the API), each with its required variables."""
    by_name = {c["name"]: c for c in containers}
    absent = [name for name in EPR_REQUIRED_VARIABLES if name not in by_name]
    if absent:
        return [f"expected containers {', '.join(EPR_REQUIRED_VARIABLES)}, the task definition has"
                f" {', '.join(by_name) or 'none'}"]
    api, worker = by_name[aws_names.EPR_CONTAINER], by_name[aws_names.EPR_WORKER_CONTAINER]
    found = []
    if not api.get("essential", True):
        found.append(f"container {aws_names.EPR_CONTAINER}: expected essential true, got false")
    ports = sorted(p.get("containerPort") for p in api.get("portMappings", []))
    if aws_names.EPR_API_PORT not in ports:
        found.append(f"container {aws_names.EPR_CONTAINER}: expected containerPort {aws_names.EPR_API_PORT},"
                     f" got {ports or 'none'}")
    health = " ".join((api.get("healthCheck") or {}).get("command", []))
    if aws_names.EPR_HEALTH_CHECK_PATH not in health:
        found.append(f"container {aws_names.EPR_CONTAINER}: expected a health check on {aws_names.EPR_HEALTH_CHECK_PATH},"
                     f" got {health or 'none'}")
    if worker.get("essential", True):
        found.append(f"container {aws_names.EPR_WORKER_CONTAINER}: expected essential false (its exit must not stop"
                     " the API), got true")
    if worker.get("image") != api.get("image"):
        found.append(f"container {aws_names.EPR_WORKER_CONTAINER}: expected the image of {aws_names.EPR_CONTAINER}"
                     f" ({api.get('image')}), got {worker.get('image')}")
    for name, variables in EPR_REQUIRED_VARIABLES.items():
        container = by_name[name]
        present = {e["name"] for e in container.get("environment", []) if e.get("value")}
        present |= {s["name"] for s in container.get("secrets", [])}
        unset = [v for v in variables if v not in present]
        if unset:
            found.append(f"container {name}: required variables {', '.join(unset)} not set (empty or absent)")
    return found
