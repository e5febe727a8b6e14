"""What ECS asks IAM for, with a task definition's execution role, before any container of a new task
starts: an ECR token and the image's layers, the awslogs streams, and every secret the containers name
with ``valueFrom``. A role short of one of them fails each new task before it runs
(``CannotPullContainerError``, ``ResourceInitializationError``), while the tasks already running carry
on: the gap shows at the next deploy or task replacement, which is why preflight reads it.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from filot_gate.iam_policy import allows

#: ``<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag|@digest]``; other registries need no ECR rights.
_ECR_IMAGE = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/(?P<repository>[^@:]+)")
#: A Secrets Manager ``valueFrom``: the secret's ARN, optionally followed by ``:json-key:version-stage:version-id``.
_SECRET_REF = re.compile(r"^(?P<arn>arn:aws[a-z-]*:secretsmanager:[^:]*:\d{12}:secret:[^:]+)")
#: The ECR calls of an image pull, on the image's repository.
ECR_PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage")
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")


def role_name(role_arn: str) -> str:
    """``arn:aws:iam::<account>:role/<path/>name`` -> ``name``."""
    return role_arn.rsplit("/", 1)[-1]


def needs(task_definition: Mapping[str, Any], region: str, account_id: str) -> list[tuple[str, str]]:
    """(action, resource) pairs the execution role must allow for ``task_definition``'s tasks to start."""
    found: list[tuple[str, str]] = []
    for container in task_definition.get("containerDefinitions", []):
        found += _image_needs(container.get("image", ""))
        found += _log_needs(container.get("logConfiguration") or {}, region, account_id)
        found += [_secret_need(secret["valueFrom"], region, account_id) for secret in container.get("secrets", [])]
    return list(dict.fromkeys(found))


def refused(policies: Iterable[Mapping[str, Any]], wanted: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The (action, resource) pairs of ``wanted`` that ``policies`` (the role's documents) do not allow."""
    documents = list(policies)
    return [(action, resource) for action, resource in wanted if not allows(documents, action, resource)]


def _image_needs(image: str) -> list[tuple[str, str]]:
    match = _ECR_IMAGE.match(image)
    if not match:
        return []
    repository = f"arn:aws:ecr:{match['region']}:{match['account']}:repository/{match['repository']}"
    return [("ecr:GetAuthorizationToken", "*")] + [(action, repository) for action in ECR_PULL_ACTIONS]


def _log_needs(config: Mapping[str, Any], region: str, account_id: str) -> list[tuple[str, str]]:
    options = config.get("options") or {}
    if config.get("logDriver") != "awslogs" or not options.get("awslogs-group"):
        return []
    group_region = options.get("awslogs-region", region)
    streams = f"arn:aws:logs:{group_region}:{account_id}:log-group:{options['awslogs-group']}:log-stream:*"
    return [(action, streams) for action in LOG_ACTIONS]


def _secret_need(value_from: str, region: str, account_id: str) -> tuple[str, str]:
    """A Secrets Manager ARN, else an SSM parameter: its ARN, or a name in the task's own region."""
    secret = _SECRET_REF.match(value_from)
    if secret:
        return "secretsmanager:GetSecretValue", secret["arn"]
    if value_from.startswith("arn:"):
        return "ssm:GetParameters", value_from
    return "ssm:GetParameters", f"arn:aws:ssm:{region}:{account_id}:parameter/{value_from.lstrip('/')}"
