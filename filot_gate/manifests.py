"""Load and render FiLot's deployment manifests: the expected state (DESIGN.md sections 1 and 3).

The JSON files under ``infra/`` and ``alerts/`` are AWS API inputs with placeholders for what differs
between environments. Rendering fills them from :class:`ManifestParams`:

* ``${NAME}``: ``AWS_ACCOUNT_ID``, ``AWS_REGION``, ``VPC_ID``, ``LOAD_BALANCER_ARN``,
  ``TARGET_GROUP_ARN``, ``ALB_DIMENSION`` (the ALB's CloudWatch dimension), ``SUBNET_IDS_CSV``;
  ``SUBNET_IDS`` and ``SECURITY_GROUP_IDS`` are lists and must be a whole JSON value;
* ``${IMAGE:<repository>}``: the ECR image reference ``<registry>/<repository>@<digest>``;
* ``${SECRET:<secret id>}``: the secret's full ARN (partial ARNs are ambiguous for names that end in a
  hyphen and six characters, such as ``jwt-secret``);
* ``${SECURITY_GROUP:<group name>}``: the id of a security group of ``infra/ec2/omen-epr-security-groups.json``;
* ``${LOAD_BALANCER:<name>}``, ``${TARGET_GROUP:<name>}``: the ARN of a load balancer or target group of
  ``infra/elb/`` (EPR's; the backend's ALB keeps ``LOAD_BALANCER_ARN`` and ``TARGET_GROUP_ARN``).

A placeholder without a value is an error naming the file and the parameter, so nothing half-rendered
ever reaches AWS. :func:`validate_input` checks a rendered document against botocore's service model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Mapping

from filot_gate import secrets_manifest
from filot_gate.secrets_manifest import SecretsManifest

REPO_ROOT = Path(__file__).resolve().parent.parent

TASK_DEFINITION_FILES = {"backend": "infra/ecs/filot-backend-task.json", "ocr-gpu": "infra/ecs/filot-ocr-gpu-task.json",
                         "epr": "infra/ecs/omen-epr-task.json"}
#: Optional integrations a deployment may turn on (``ManifestParams.features``): each file adds environment
#: variables and secrets to one container of one service's task definition.
FEATURE_FILES = {"temporal": "infra/ecs/features/temporal.json"}
SERVICE_FILES = {"backend": "infra/ecs/filot-backend-service.json", "ocr-gpu": "infra/ecs/filot-ocr-gpu-service.json",
                 "epr": "infra/ecs/omen-epr-service.json"}
MESSAGING_FILE = "infra/messaging/omen-epr.json"
SECURITY_GROUPS_FILE = "infra/ec2/omen-epr-security-groups.json"
CLUSTERS_FILE = "infra/ecs/cluster.json"
ROLES_FILE = "infra/iam/roles.json"
#: The load balancer, target group and listener in front of each service that has one.
ALB_FILES = {"backend": "infra/elb/filot-backend-alb.json", "epr": "infra/elb/omen-epr-alb.json"}
LAUNCH_TEMPLATE_FILE = "infra/ec2/filot-ocr-gpu-template.json"
ASG_FILE = "infra/autoscaling/filot-ocr-gpu-asg.json"
#: Application Auto Scaling of the backend service: its scalable target and scaling policies.
BACKEND_SCALING_FILE = "infra/autoscaling/filot-backend-scaling.json"
ALARMS_FILE = "alerts/cloudwatch-alarms.json"
DASHBOARD_FILE = "alerts/dashboard.json"
#: The SNS topics the alarms notify, and the protocols of which each needs a confirmed subscriber.
NOTIFICATIONS_FILE = "alerts/notifications.json"
SECRETS_FILE = "production_secrets_required.json"
IMAGE_VERSIONS_FILE = "image-versions.json"
LOG_QUERIES_DIR = "logs"

ImageChoice = Literal["current", "previous"]
AlbPart = Literal["loadBalancer", "targetGroup", "listener"]

_PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)(?::([^}]+))?\}")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class ManifestError(ValueError):
    """A manifest cannot be read, rendered or is not what AWS accepts."""


@dataclass(frozen=True)
class ImageRef:
    """One image in ECR, by tag and digest (``image-versions.json``)."""

    repository: str
    tag: str
    digest: str

    def uri(self, account_id: str, region: str) -> str:
        """The reference a task definition uses: pinned by digest, so the tag cannot move under it."""
        return f"{account_id}.dkr.ecr.{region}.amazonaws.com/{self.repository}@{self.digest}"


@dataclass(frozen=True)
class ImageVersions:
    """The image a deploy ships (``current``) and the one live before it (``previous``)."""

    current: ImageRef
    previous: ImageRef | None

    def pick(self, choice: ImageChoice) -> ImageRef:
        if choice == "previous":
            if self.previous is None:
                raise ManifestError(f"{IMAGE_VERSIONS_FILE}: {self.current.repository} has no 'previous' entry")
            return self.previous
        return self.current


@dataclass(frozen=True)
class ManifestParams:
    """What differs between environments; every field a manifest uses must be given."""

    account_id: str
    region: str
    images: Mapping[str, ImageRef] = field(default_factory=dict)
    secret_arns: Mapping[str, str] = field(default_factory=dict)
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    vpc_id: str | None = None
    load_balancer_arn: str | None = None
    target_group_arn: str | None = None
    #: security group name -> id, for the groups the manifests name (EPR's load balancer and tasks)
    security_group_ids: Mapping[str, str] = field(default_factory=dict)
    #: load balancer / target group name -> ARN, for the ones the manifests name (EPR's)
    load_balancers: Mapping[str, str] = field(default_factory=dict)
    target_groups: Mapping[str, str] = field(default_factory=dict)
    #: service key ("backend", "ocr-gpu", "epr") -> environment variables set on (or replacing those of) its
    #: container, for targets that need extra settings (the sandbox); empty for AWS.
    env_overrides: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: the optional integrations this deployment uses (keys of FEATURE_FILES, e.g. "temporal")
    features: frozenset[str] = frozenset()

    @classmethod
    def from_image_versions(
        cls, account_id: str, region: str, choice: ImageChoice = "current", root: Path = REPO_ROOT, **fields: Any
    ) -> "ManifestParams":
        images = {repo: versions.pick(choice) for repo, versions in load_image_versions(root).items()}
        return cls(account_id=account_id, region=region, images=images, **fields)

    def value(self, name: str, arg: str | None) -> Any:
        """The value of one placeholder, or None when the parameter it needs was not given."""
        if name == "IMAGE":
            image = self.images.get(arg or "")
            return image.uri(self.account_id, self.region) if image else None
        if name == "SECRET":
            return self.secret_arns.get(arg or "")
        if name == "SECURITY_GROUP":
            return self.security_group_ids.get(arg or "")
        if name == "LOAD_BALANCER":
            return self.load_balancers.get(arg or "")
        if name == "TARGET_GROUP":
            return self.target_groups.get(arg or "")
        simple = {
            "AWS_ACCOUNT_ID": self.account_id,
            "AWS_REGION": self.region,
            "VPC_ID": self.vpc_id,
            "LOAD_BALANCER_ARN": self.load_balancer_arn,
            "TARGET_GROUP_ARN": self.target_group_arn,
            "ALB_DIMENSION": alb_dimension(self.load_balancer_arn) if self.load_balancer_arn else None,
            "SUBNET_IDS": list(self.subnets) or None,
            "SUBNET_IDS_CSV": ",".join(self.subnets) or None,
            "SECURITY_GROUP_IDS": list(self.security_groups) or None,
        }
        if name not in simple:
            raise ManifestError(f"unknown placeholder ${{{name}}}; known: IMAGE:<repo>, SECRET:<id>, SECURITY_GROUP:<name>,"
                                f" LOAD_BALANCER:<name>, TARGET_GROUP:<name>, {', '.join(simple)}")
        return simple[name]


def alb_dimension(load_balancer_arn: str) -> str:
    """The ``LoadBalancer`` dimension of an ALB's metrics: ``app/<name>/<id>`` from its ARN."""
    _, sep, tail = load_balancer_arn.partition(":loadbalancer/")
    if not sep:
        raise ManifestError(f"{load_balancer_arn!r} is not a load balancer ARN")
    return tail


def render(doc: Any, params: ManifestParams, source: str) -> Any:
    """A copy of ``doc`` with every placeholder filled; ``source`` names the file in errors."""
    if isinstance(doc, dict):
        return {k: render(v, params, source) for k, v in doc.items()}
    if isinstance(doc, list):
        return [render(v, params, source) for v in doc]
    if isinstance(doc, str):
        return _render_string(doc, params, source)
    return doc


def _render_string(text: str, params: ManifestParams, source: str) -> Any:
    whole = _PLACEHOLDER.fullmatch(text)
    if whole:
        return _placeholder_value(whole, params, source)

    def substitute(match: re.Match[str]) -> str:
        value = _placeholder_value(match, params, source)
        if isinstance(value, list):
            raise ManifestError(f"{source}: list placeholder {match[0]} must be a whole JSON value, not inside {text!r}")
        return str(value)

    return _PLACEHOLDER.sub(substitute, text)


def _placeholder_value(match: re.Match[str], params: ManifestParams, source: str) -> Any:
    value = params.value(match[1], match[2])
    if value is None:
        raise ManifestError(f"{source}: placeholder {match[0]} has no value; give it in ManifestParams "
                            f"({_PARAM_HINTS.get(match[1], match[1].lower())})")
    return value


_PARAM_HINTS = {
    "IMAGE": "images: repository -> ImageRef, from image-versions.json",
    "SECRET": "secret_arns: secret id -> full ARN; does the secret exist?",
    "SECURITY_GROUP": "security_group_ids: group name -> id; does the group exist?",
    "LOAD_BALANCER": "load_balancers: name -> ARN; does the load balancer exist?",
    "TARGET_GROUP": "target_groups: name -> ARN; does the target group exist?",
    "SUBNET_IDS": "subnets",
    "SUBNET_IDS_CSV": "subnets",
    "SECURITY_GROUP_IDS": "security_groups",
    "ALB_DIMENSION": "load_balancer_arn",
}


def read_json(relative: str, root: Path = REPO_ROOT) -> Any:
    """A manifest file's JSON, with a clear error for a missing or malformed file."""
    path = root / relative
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"{relative}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{relative}: not valid JSON: {exc}") from None


def _file_for(files: Mapping[str, str], name: str) -> str:
    if name not in files:
        raise ManifestError(f"unknown service {name!r}; known: {', '.join(files)}")
    return files[name]


def load_task_definition(name: str, params: ManifestParams, root: Path = REPO_ROOT) -> dict[str, Any]:
    """The ``register-task-definition`` input of service ``name`` ("backend", "ocr-gpu", "epr")."""
    relative = _file_for(TASK_DEFINITION_FILES, name)
    taskdef = render(read_json(relative, root), params, relative)
    for feature in sorted(params.features):
        _add_feature(taskdef, name, feature, params, root)
    overrides = params.env_overrides.get(name, {})
    if overrides:
        for container in taskdef["containerDefinitions"]:
            _set_environment(container, overrides)
    return taskdef


def _add_feature(taskdef: dict[str, Any], service: str, feature: str, params: ManifestParams, root: Path) -> None:
    """Add feature ``feature``'s variables and secrets to its container, when it is one of ``service``'s."""
    if feature not in FEATURE_FILES:
        raise ManifestError(f"unknown feature {feature!r}; known: {', '.join(FEATURE_FILES)}")
    relative = FEATURE_FILES[feature]
    overlay = render(read_json(relative, root), params, relative)
    if overlay["service"] != service:
        return
    container = next((c for c in taskdef["containerDefinitions"] if c["name"] == overlay["container"]), None)
    if container is None:
        raise ManifestError(f"{relative}: task definition of {service} has no container {overlay['container']!r}")
    _set_environment(container, {e["name"]: e["value"] for e in overlay.get("environment", [])})
    names = {s["name"] for s in overlay.get("secrets", [])}
    container["secrets"] = [s for s in container.get("secrets", []) if s["name"] not in names] + overlay.get("secrets", [])


def _set_environment(container: dict[str, Any], values: Mapping[str, str]) -> None:
    env = {e["name"]: e["value"] for e in container.get("environment", [])}
    env.update(values)
    container["environment"] = [{"name": k, "value": v} for k, v in env.items()]


def load_service(
    name: str, params: ManifestParams, task_definition: str | None = None, root: Path = REPO_ROOT
) -> dict[str, Any]:
    """The ``create-service`` input of service ``name``; ``task_definition`` pins a revision ARN."""
    relative = _file_for(SERVICE_FILES, name)
    service = render(read_json(relative, root), params, relative)
    if task_definition:
        service["taskDefinition"] = task_definition
    return service


def load_clusters(params: ManifestParams, root: Path = REPO_ROOT) -> list[dict[str, Any]]:
    """The ``create-cluster`` inputs of every cluster."""
    return render(read_json(CLUSTERS_FILE, root), params, CLUSTERS_FILE)


def exec_log_groups(clusters: list[dict[str, Any]]) -> list[str]:
    """The CloudWatch log groups the clusters' ECS Exec sessions log to (``executeCommandConfiguration``)."""
    return sorted({group for cluster in clusters
                   if (group := cluster.get("configuration", {}).get("executeCommandConfiguration", {})
                       .get("logConfiguration", {}).get("cloudWatchLogGroupName"))})


def load_messaging(params: ManifestParams, root: Path = REPO_ROOT) -> dict[str, Any]:
    """EPR's SNS topics (``create-topic`` inputs), SQS queues (``create-queue``; the file keeps the access
    and redrive policies as objects, SQS wants them as strings) and the topic -> queue subscriptions
    (``subscribe``) of seed 004."""
    messaging = render(read_json(MESSAGING_FILE, root), params, MESSAGING_FILE)
    for queue in messaging["queues"]:
        queue["Attributes"] = {k: v if isinstance(v, str) else json.dumps(v) for k, v in queue.get("Attributes", {}).items()}
    return messaging


SecurityGroupPart = Literal["group", "rules"]


def load_security_groups(part: SecurityGroupPart, params: ManifestParams, root: Path = REPO_ROOT) -> list[dict[str, Any]]:
    """EPR's security groups (seed 004 "Restrict security group rules"): each group's ``create-security-group``
    input (``group``), or its ``ingress`` and ``egress`` IpPermissions (``rules``, which name other groups by
    id, so they are rendered once every group exists)."""
    groups = read_json(SECURITY_GROUPS_FILE, root)
    keys = ("group",) if part == "group" else ("group", "ingress", "egress")
    return render([{k: g[k] for k in keys} for g in groups], params, f"{SECURITY_GROUPS_FILE} [{part}]")


def load_alarms(params: ManifestParams, root: Path = REPO_ROOT) -> list[dict[str, Any]]:
    """The ``put-metric-alarm`` inputs of every FiLot alarm."""
    return render(read_json(ALARMS_FILE, root), params, ALARMS_FILE)


def load_dashboard(params: ManifestParams, root: Path = REPO_ROOT) -> dict[str, Any]:
    """The ``put-dashboard`` input (the file keeps the body as an object; AWS wants it as a string)."""
    dashboard = render(read_json(DASHBOARD_FILE, root), params, DASHBOARD_FILE)
    return {"DashboardName": dashboard["DashboardName"], "DashboardBody": json.dumps(dashboard["DashboardBody"])}


@dataclass(frozen=True)
class RoleManifest:
    """One IAM role: its ``create-role`` input, attached managed policies, inline policies, profile."""

    create_role: dict[str, Any]
    managed_policy_arns: tuple[str, ...]
    inline_policies: Mapping[str, str]
    instance_profile: str | None


def load_roles(params: ManifestParams, root: Path = REPO_ROOT) -> list[RoleManifest]:
    """The IAM roles of DESIGN.md section 3, policy documents as JSON strings (as IAM takes them)."""
    roles = []
    for entry in render(read_json(ROLES_FILE, root), params, ROLES_FILE)["roles"]:
        create = dict(entry["role"], AssumeRolePolicyDocument=json.dumps(entry["role"]["AssumeRolePolicyDocument"]))
        inline = {name: json.dumps(doc) for name, doc in entry.get("inlinePolicies", {}).items()}
        roles.append(RoleManifest(create, tuple(entry.get("managedPolicyArns", [])), inline, entry.get("instanceProfile")))
    return roles


def load_alb(part: AlbPart, params: ManifestParams, service: str = "backend", root: Path = REPO_ROOT) -> dict[str, Any]:
    """One part of a service's load balancer: the ``create-load-balancer``, ``create-target-group`` or
    ``create-listener`` input (rendered separately, because each needs the ARN of the one before)."""
    relative = _file_for(ALB_FILES, service)
    document = read_json(relative, root)
    if part not in document:
        raise ManifestError(f"{relative}: no {part!r} section")
    return render(document[part], params, f"{relative} [{part}]")


def load_launch_template(params: ManifestParams, root: Path = REPO_ROOT) -> dict[str, Any]:
    """The ``create-launch-template`` input of the GPU instances."""
    return render(read_json(LAUNCH_TEMPLATE_FILE, root), params, LAUNCH_TEMPLATE_FILE)


def load_backend_scaling(params: ManifestParams, root: Path = REPO_ROOT) -> dict[str, Any]:
    """The backend's ``register-scalable-target`` input (``ScalableTarget``) and ``put-scaling-policy`` inputs
    (``ScalingPolicies``)."""
    return render(read_json(BACKEND_SCALING_FILE, root), params, BACKEND_SCALING_FILE)


def load_auto_scaling_group(params: ManifestParams, root: Path = REPO_ROOT) -> dict[str, Any]:
    """The ``create-auto-scaling-group`` input of the GPU ASG."""
    return render(read_json(ASG_FILE, root), params, ASG_FILE)


def load_secrets_manifest(root: Path = REPO_ROOT) -> SecretsManifest:
    """``production_secrets_required.json``, parsed and schema-checked."""
    try:
        return secrets_manifest.parse(read_json(SECRETS_FILE, root), SECRETS_FILE)
    except secrets_manifest.SecretsManifestError as exc:
        raise ManifestError(str(exc)) from None


def load_image_versions(root: Path = REPO_ROOT) -> dict[str, ImageVersions]:
    """``image-versions.json``: per repository the current image and the previous one."""
    data = read_json(IMAGE_VERSIONS_FILE, root)
    versions = {}
    for repository, entry in data.items():
        previous = entry.get("previous")
        versions[repository] = ImageVersions(
            current=_image_ref(repository, entry),
            previous=_image_ref(repository, previous) if previous else None,
        )
    return versions


def _image_ref(repository: str, entry: Mapping[str, Any]) -> ImageRef:
    try:
        ref = ImageRef(repository, entry["tag"], entry["digest"])
    except (KeyError, TypeError):
        raise ManifestError(f"{IMAGE_VERSIONS_FILE}: {repository}: expected {{'tag', 'digest'}}, got {entry!r}") from None
    if not _DIGEST.match(ref.digest):
        raise ManifestError(f"{IMAGE_VERSIONS_FILE}: {repository}:{ref.tag}: digest must be sha256:<64 hex>, got {ref.digest!r}")
    return ref


@dataclass(frozen=True)
class LogQuery:
    """One CloudWatch Logs Insights query of ``logs/``: its name, the log groups it reads, its text."""

    name: str
    log_groups: tuple[str, ...]
    query: str


def load_log_queries(root: Path = REPO_ROOT) -> dict[str, LogQuery]:
    """Every ``logs/*.query``; the ``# logGroups:`` header names the groups, comment lines are dropped."""
    queries = {}
    for path in sorted((root / LOG_QUERIES_DIR).glob("*.query")):
        lines = path.read_text(encoding="utf-8").splitlines()
        groups: tuple[str, ...] = ()
        for line in lines:
            if line.startswith("# logGroups:"):
                groups = tuple(g.strip() for g in line.split(":", 1)[1].split(",") if g.strip())
        if not groups:
            raise ManifestError(f"{LOG_QUERIES_DIR}/{path.name}: missing '# logGroups:' header")
        text = "\n".join(line for line in lines if not line.startswith("#")).strip()
        queries[path.stem] = LogQuery(path.stem, groups, text)
    return queries


@lru_cache(maxsize=None)
def _operation_model(service: str, operation: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model(service).operation_model(operation)


def validate_input(service: str, operation: str, params: Mapping[str, Any], source: str = "") -> None:
    """Check ``params`` against the input shape AWS accepts for ``operation`` (offline, botocore's model)."""
    from botocore.validate import ParamValidator

    report = ParamValidator().validate(dict(params), _operation_model(service, operation).input_shape)
    if report.has_errors():
        raise ManifestError(f"{source or operation}: not a valid {service} {operation} input:\n{report.generate_report()}")
