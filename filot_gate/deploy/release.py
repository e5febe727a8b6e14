"""Deploy one FiLot service (seed 000 steps 2 and 3): register the task definition from its manifest with
the image pinned by digest, point the service at it, and say what was live before."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from filot_contract.aws_names import SECRETS_PREFIX, SERVICES
from filot_gate.deploy.errors import DeployError
from filot_gate.deploy.record import ServiceRecord
from filot_gate.deploy.state import describe_service
from filot_gate.manifests import REPO_ROOT, ImageChoice, ManifestError, ManifestParams, load_image_versions, load_task_definition


def service_names(key: str) -> tuple[str, str, str, str]:
    """(cluster, service, family, container) of service ``key`` ("backend", "ocr-gpu", "epr")."""
    if key not in SERVICES:
        raise DeployError(f"unknown service {key!r}; known: {', '.join(SERVICES)}")
    return SERVICES[key]


def resolve_params(
    *,
    sts: Any,
    ecr: Any,
    secretsmanager: Any,
    region: str,
    choice: ImageChoice = "current",
    env_overrides: Mapping[str, Mapping[str, str]] | None = None,
    features: frozenset[str] = frozenset(),
    root: Path = REPO_ROOT,
) -> ManifestParams:
    """The parameters a task definition needs, read from the target account.

    The account from STS, each image of ``image-versions.json`` (``choice``) checked to exist in ECR
    by digest, and the full ARN of every secret under ``filot/production/``.
    """
    account_id = sts.get_caller_identity()["Account"]
    images = {repo: versions.pick(choice) for repo, versions in load_image_versions(root).items()}
    for image in images.values():
        _require_image(ecr, image.repository, image.tag, image.digest)
    return ManifestParams(
        account_id=account_id,
        region=region,
        images=images,
        secret_arns=secret_arns(secretsmanager),
        env_overrides=dict(env_overrides or {}),
        features=features,
    )


def _require_image(ecr: Any, repository: str, tag: str, digest: str) -> None:
    try:
        ecr.describe_images(repositoryName=repository, imageIds=[{"imageDigest": digest}])
    except (ecr.exceptions.ImageNotFoundException, ecr.exceptions.RepositoryNotFoundException) as exc:
        raise DeployError(f"image {repository}:{tag} ({digest}) of image-versions.json is not in ECR: "
                          f"{exc.response['Error']['Message']}") from None


def secret_arns(secretsmanager: Any, prefix: str = SECRETS_PREFIX) -> dict[str, str]:
    """Secret name -> full ARN for every secret whose name starts with ``prefix/``."""
    arns = {}
    paginator = secretsmanager.get_paginator("list_secrets")
    for page in paginator.paginate(Filters=[{"Key": "name", "Values": [prefix + "/"]}]):
        for secret in page["SecretList"]:
            if secret["Name"].startswith(prefix + "/"):
                arns[secret["Name"]] = secret["ARN"]
    return arns


def deploy_service(ecs: Any, key: str, params: ManifestParams, root: Path = REPO_ROOT) -> ServiceRecord:
    """Register service ``key``'s task definition and update the service to it; does not wait.

    The caller records the result before waiting, so a deploy that never becomes stable can still be
    rolled back to ``previous_task_definition_arn``.
    """
    cluster, service, family, container = service_names(key)
    live = describe_service(ecs, cluster, service)
    taskdef = load_task_definition(key, params, root)
    if taskdef.get("family") != family:
        raise ManifestError(f"task definition of {key} has family {taskdef.get('family')!r}, expected {family!r}")
    image = next((c["image"] for c in taskdef["containerDefinitions"] if c["name"] == container), None)
    if image is None or "@" not in image:
        raise ManifestError(f"task definition of {key}: container {container} must have an image pinned by digest, got {image!r}")
    arn = ecs.register_task_definition(**taskdef)["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=cluster, service=service, taskDefinition=arn)
    return ServiceRecord(
        cluster=cluster,
        service=service,
        family=family,
        task_definition_arn=arn,
        image_digest=image.rsplit("@", 1)[1],
        previous_task_definition_arn=live.get("taskDefinition"),
    )
