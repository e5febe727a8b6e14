"""What ECS asks IAM for, with a task definition's execution role, before any container of a new task
starts: an ECR token and the image's layers, the awslogs streams (and group, when the driver creates
it), every secret the containers name with ``valueFrom`` (environment, log driver options, private
registry credentials) and their S3 environment files. A role short of one of them fails each new task
before it runs (``CannotPullContainerError``, ``ResourceInitializationError``), while the tasks already
running carry on: the gap shows at the next deploy or task replacement, which is why preflight reads it.

Not modelled: KMS keys of secrets and parameters, permissions boundaries, and the repository policy of
an image in another account; a check that passes here can still be refused for those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from filot_gate.secrets_manifest import secret_arn

#: ``<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]/<repository>[:tag|@digest]``; other registries
#: need no ECR rights.
_ECR_IMAGE = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
                        r"(?P<repository>[^@:]+)")
#: The ECR calls of an image pull, on the image's repository.
ECR_PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage")
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
#: Stands for the id of the task whose log stream is created (``<prefix>/<container>/<task id>``).
PROBE_TASK_ID = "0123456789abcdef0123456789abcdef"


@dataclass(frozen=True)
class Account:
    """Where the task runs: its partition (``aws``, ``aws-cn``), region and account id."""

    partition: str
    region: str
    account_id: str

    @classmethod
    def of(cls, task_definition: Mapping[str, Any], region: str, account_id: str) -> "Account":
        """The partition is the execution role's (``arn:<partition>:iam::...``); ``aws`` without one."""
        role = task_definition.get("executionRoleArn") or "arn:aws:"
        return cls(role.split(":")[1] or "aws", region, account_id)

    def arn(self, service: str, resource: str, region: str | None = None, account_id: str | None = None) -> str:
        return f"arn:{self.partition}:{service}:{region or self.region}:{account_id or self.account_id}:{resource}"


def needs(task_definition: Mapping[str, Any], region: str, account_id: str) -> list[tuple[str, str]]:
    """(action, resource) pairs the execution role must allow for ``task_definition``'s tasks to start."""
    account = Account.of(task_definition, region, account_id)
    found: list[tuple[str, str]] = []
    for container in task_definition.get("containerDefinitions", []):
        found += _image_needs(container.get("image", ""), account)
        found += _log_needs(container.get("logConfiguration") or {}, container.get("name", ""), account)
        references = [s["valueFrom"] for s in container.get("secrets", [])]
        references += [s["valueFrom"] for s in (container.get("logConfiguration") or {}).get("secretOptions", [])]
        references += [c for c in [(container.get("repositoryCredentials") or {}).get("credentialsParameter")] if c]
        found += [_secret_need(reference, account) for reference in references]
        found += [need for file in container.get("environmentFiles", []) for need in _s3_needs(file["value"])]
    return list(dict.fromkeys(found))


def by_action(pairs: Iterable[tuple[str, str]]) -> list[str]:
    """``action on resource, resource`` per action, for a message."""
    grouped: dict[str, list[str]] = {}
    for action, resource in pairs:
        grouped.setdefault(action, []).append(resource)
    return [f"{action} on {', '.join(resources)}" for action, resources in grouped.items()]


def _image_needs(image: str, account: Account) -> list[tuple[str, str]]:
    match = _ECR_IMAGE.match(image)
    if not match:
        return []
    repository = account.arn("ecr", f"repository/{match['repository']}", match["region"], match["account"])
    return [("ecr:GetAuthorizationToken", "*")] + [(action, repository) for action in ECR_PULL_ACTIONS]


def _log_needs(config: Mapping[str, Any], container: str, account: Account) -> list[tuple[str, str]]:
    options = config.get("options") or {}
    group = options.get("awslogs-group")
    if config.get("logDriver") != "awslogs" or not group:
        return []
    region = options.get("awslogs-region", account.region)
    prefix = options.get("awslogs-stream-prefix")
    stream = f"{prefix}/{container}/{PROBE_TASK_ID}" if prefix else PROBE_TASK_ID
    found = [(action, account.arn("logs", f"log-group:{group}:log-stream:{stream}", region)) for action in LOG_ACTIONS]
    if str(options.get("awslogs-create-group", "")).lower() == "true":
        found.append(("logs:CreateLogGroup", account.arn("logs", f"log-group:{group}", region)))
    return found


def _secret_need(value_from: str, account: Account) -> tuple[str, str]:
    """A Secrets Manager ARN, else an SSM parameter: its ARN, or a name in the task's own region."""
    secret = secret_arn(value_from)
    if secret:
        return "secretsmanager:GetSecretValue", secret
    if value_from.startswith("arn:"):
        return "ssm:GetParameters", value_from
    return "ssm:GetParameters", account.arn("ssm", f"parameter/{value_from.lstrip('/')}")


def _s3_needs(object_arn: str) -> list[tuple[str, str]]:
    """An environment file ``arn:aws:s3:::bucket/key``: the object, and its bucket's location."""
    bucket = object_arn.split("/", 1)[0]
    return [("s3:GetObject", object_arn), ("s3:GetBucketLocation", bucket)]
