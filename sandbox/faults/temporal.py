"""Faults of FiLot's Temporal (seed 000 section 4, seed 002 section 4): its secret names a namespace
Temporal does not know, and a backend deploy made without ``--with temporal``, which drops the workflows
and their worker while the profile still says Temporal is used."""

from __future__ import annotations

from filot_contract import aws_names, temporal
from sandbox.deploy import deploy_revision
from sandbox.faults.aws import backend_back, describe_service, restore_secret, secret_rewritten
from sandbox.faults.context import FaultContext
from sandbox.faults.model import Fault

SECRET = f"{aws_names.SECRETS_PREFIX}/{temporal.SECRET_NAME}"


def _deploy_without_temporal(ctx: FaultContext) -> None:
    """A new backend revision, recorded in the same deploy run, from the manifest without the Temporal feature."""
    saved = ctx.keep({"taskDefinitionArn": describe_service(ctx, "backend")["taskDefinition"], "record": ctx.record()})
    record = deploy_revision(ctx.config, "backend", {}, run_id=saved["record"]["runId"],
                             features=ctx.config.features - {"temporal"})
    ctx.wait_stable("backend", record.task_definition_arn)


FAULTS = [
    Fault("temporal-namespace-wrong", f"TEMPORAL_NAMESPACE in secret {SECRET} names a namespace Temporal does not know"
          " (running backend tasks keep the one they started with)",
          "preflight test_temporal_namespace_answers_with_the_secrets_credentials",
          secret_rewritten(SECRET, temporal.NAMESPACE_KEY, lambda namespace: f"{namespace}-production"),
          lambda ctx, saved: restore_secret(ctx, SECRET)),
    Fault("temporal-dropped", f"the backend redeployed without --with temporal ({temporal.SWITCH}=true): no workflow is"
          " started and no task polls the task queue, while the profile says Temporal is used",
          "e2e test_temporal_workflows_show_correct_transitions", _deploy_without_temporal, backend_back),
]
