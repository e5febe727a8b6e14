"""Preflight: FiLot's Temporal answers with the values of its secret (seed 002 section 4 "Verify Temporal
connection"; seed 000 section 4 "Provide TEMPORAL_API_KEY via Secrets Manager"), where the backend uses
Temporal (profile ``[temporal] enabled``). A backend task reads ``filot/production/temporal`` only when it
starts, and one whose namespace Temporal does not know exits at once: a wrong value there fails every new
task while the running ones serve on."""

from __future__ import annotations

import pytest

from filot_contract import aws_names, temporal
from filot_gate.temporal_runs import TemporalUnreachable, describe_namespace

pytestmark = pytest.mark.preflight

SECRET = f"{aws_names.SECRETS_PREFIX}/{temporal.SECRET_NAME}"


def test_temporal_namespace_answers_with_the_secrets_credentials(target, settings, evidence):
    if not settings.profile.get("temporal.enabled", False):
        pytest.skip(f"profile {settings.profile.path.name}: Temporal not used ([temporal] enabled = false)")
    connection = target.temporal
    try:
        namespace = describe_namespace(connection)
    except TemporalUnreachable as exc:
        unreachable = str(exc)
    else:
        unreachable = ""
    assert not unreachable, (
        f"expected the {temporal.ENDPOINT_KEY}, {temporal.NAMESPACE_KEY} and {temporal.API_KEY_KEY} of secret {SECRET}"
        f" to reach a namespace, got: {unreachable}; every new backend task will exit at start-up"
    )
    evidence.add("Temporal namespace", namespace)
    assert namespace["state"] == "REGISTERED", (
        f"{connection}: expected state REGISTERED, got {namespace['state']} (a deprecated or deleted namespace"
        " takes no new workflows)"
    )
