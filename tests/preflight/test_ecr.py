"""Preflight: the images exist (seed 000 "Prerequisites" 2, section 0 and section 1 image-versions.json):
both ECR repositories, and each image digest the deploy record ships."""

from __future__ import annotations

import pytest

from filot_contract import aws_names
from filot_gate.checks import error_code

pytestmark = pytest.mark.preflight


@pytest.mark.parametrize("repository", sorted(set(aws_names.REPOSITORIES.values())))
def test_ecr_repository_exists(target, repository):
    from botocore.exceptions import ClientError

    try:
        found = target.client("ecr").describe_repositories(repositoryNames=[repository])["repositories"]
    except ClientError as exc:
        if error_code(exc) != "RepositoryNotFoundException":
            raise
        found = []
    assert found, f"ECR repository {repository}: expected to exist (aws ecr describe-repositories), it does not"


@pytest.mark.parametrize("service_key", list(aws_names.SERVICES))
def test_deployed_image_digest_exists_in_ecr(target, deploy_record, service_key):
    from botocore.exceptions import ClientError

    if service_key not in deploy_record["services"]:
        pytest.skip(f"deploy record {deploy_record['runId']} did not deploy {service_key}: no image to look up")
    digest = deploy_record["services"][service_key]["imageDigest"]
    repository = aws_names.REPOSITORIES[service_key]
    assert digest, f"deploy record {deploy_record['runId']}: expected an image digest for {service_key}, it has none"
    try:
        images = target.client("ecr").describe_images(repositoryName=repository, imageIds=[{"imageDigest": digest}])
    except ClientError as exc:
        if error_code(exc) not in ("ImageNotFoundException", "RepositoryNotFoundException"):
            raise
        pytest.fail(f"ECR {repository}@{digest} (deploy record {deploy_record['runId']}, {service_key}):"
                    f" expected the image to exist, got {error_code(exc)}")
    assert images["imageDetails"], f"ECR {repository}@{digest}: expected the image, describe-images returned none"
