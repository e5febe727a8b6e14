"""Preflight: the images exist (seed 000 "Prerequisites" 2, section 0 and section 1 image-versions.json):
both ECR repositories, and each image digest the deploy record ships."""

from __future__ import annotations

import pytest

from filot_contract import aws_names
from filot_gate.checks import unless_absent

pytestmark = pytest.mark.preflight


@pytest.mark.parametrize("repository", sorted(set(aws_names.REPOSITORIES.values())))
def test_ecr_repository_exists(target, repository):
    found = unless_absent(lambda: target.client("ecr").describe_repositories(repositoryNames=[repository]),
                          "RepositoryNotFoundException")
    assert found and found["repositories"], f"ECR repository {repository}: expected to exist (aws ecr describe-repositories), it does not"


@pytest.mark.parametrize("service_key", list(aws_names.SERVICES))
def test_deployed_image_digest_exists_in_ecr(target, deploy_record, service_key):
    if service_key not in deploy_record["services"]:
        pytest.skip(f"deploy record {deploy_record['runId']} did not deploy {service_key}: no image to look up")
    digest = deploy_record["services"][service_key]["imageDigest"]
    repository = aws_names.REPOSITORIES[service_key]
    assert digest, f"deploy record {deploy_record['runId']}: expected an image digest for {service_key}, it has none"
    images = unless_absent(
        lambda: target.client("ecr").describe_images(repositoryName=repository, imageIds=[{"imageDigest": digest}]),
        "ImageNotFoundException", "RepositoryNotFoundException")
    assert images and images["imageDetails"], (
        f"ECR {repository}@{digest} (deploy record {deploy_record['runId']}, {service_key}): expected the image to exist"
        " (aws ecr describe-images --image-ids imageDigest=...), it does not"
    )
