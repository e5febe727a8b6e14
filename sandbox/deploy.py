"""``python -m sandbox deploy``: deploy a new revision into the sandbox with the same library the
operators' deploy step uses (``filot_gate.deploy``), and write the deploy record the gate reads.

``--set KEY=VALUE`` changes the container environment of the new revision (a deploy that is healthy
but wrong); ``--broken bad-env`` ships a revision whose tasks refuse to start (the circuit breaker's
case).
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

import boto3

from filot_gate.deploy import (DeployError, ServiceRecord, deploy_service, new_run_id, record_service, resolve_params,
                               wait_for_stable)
from filot_gate.manifests import ImageRef
from sandbox.components import require_running
from sandbox.config import SandboxConfig

#: A value each service refuses at start-up: its tasks exit and the deployment fails.
#: (Not PORT: the agent sets each task's port itself, as awsvpc networking fixes the container's.)
BAD_ENVIRONMENT = {"backend": {"AI_SCORE_THRESHOLD_AUTO_APPROVE": "not-a-number"}, "ocr-gpu": {"OCR_GPU_CONCURRENCY": "0"},
                   "epr": {"EPR_LOG_LEVEL": "LOUD"}}


def _client(config: SandboxConfig, name: str) -> Any:
    return boto3.client(name, region_name=config.region, endpoint_url=config.aws_endpoint_url,
                        aws_access_key_id="sandbox", aws_secret_access_key="sandbox")


def deploy_revision(config: SandboxConfig, service: str, overrides: dict[str, str], image: str = "current",
                    run_id: str | None = None, features: frozenset[str] | None = None,
                    build: ImageRef | None = None) -> ServiceRecord:
    """Register the manifest's revision of ``service`` with ``overrides`` in its environment and the optional
    integrations ``features`` (default: the sandbox's), update the service to it and record it in deploy run
    ``run_id`` (else ``FILOT_DEPLOY_RUN_ID``, else a new run: a new run's record holds only this service); no wait.
    ``build`` replaces the image of ``image-versions.json`` (a build pushed to ECR but not released)."""
    params = resolve_params(sts=_client(config, "sts"), ecr=_client(config, "ecr"),
                            secretsmanager=_client(config, "secretsmanager"), region=config.region, choice=image,
                            env_overrides={service: overrides},
                            features=config.features if features is None else features)
    if build is not None:
        params = replace(params, images={**params.images, build.repository: build})
    record = deploy_service(_client(config, "ecs"), service, params)
    run_id = run_id or os.environ.get("FILOT_DEPLOY_RUN_ID") or new_run_id()
    record_service(config.deploy_record, run_id, config.region, service, record)
    return record


def deploy(config: SandboxConfig, service: str, settings: dict[str, str], broken: str | None,
           image: str, wait: bool) -> int:
    require_running(config, ("controller",))  # the AWS endpoint: else a botocore traceback, nothing deployed
    overrides = {**settings, **(BAD_ENVIRONMENT[service] if broken == "bad-env" else {})}
    record = deploy_revision(config, service, overrides, image)
    print(f"deployed {record.task_definition_arn.rsplit('/', 1)[-1]} to {record.service}"
          f" (was {(record.previous_task_definition_arn or '-').rsplit('/', 1)[-1]}); record {config.deploy_record}")
    if not wait:
        return 0
    try:
        wait_for_stable(_client(config, "ecs"), record.cluster, record.service, task_definition=record.task_definition_arn,
                        deadline_s=config.start_deadline_s * 3, poll_s=1.0, progress=print)
    except DeployError as exc:
        print(f"deploy of {record.service} did not become stable: {exc}")
        return 1
    print(f"{record.service} stable on {record.task_definition_arn.rsplit('/', 1)[-1]}")
    return 0
