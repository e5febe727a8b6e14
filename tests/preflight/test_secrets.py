"""Preflight: FiLot's secrets (seed 000 "Prerequisites" 1 and section 0, seed 002 sections 1 and 6,
seed 003 "Secrets Status"): every secret of production_secrets_required.json exists and passes its
rules, and AWS_ACCOUNT_ID is the account the deployment runs in. Messages name the secret, the key and
the rule, never the value (the account id is configuration, shown)."""

from __future__ import annotations

import pytest

from filot_contract import aws_names, temporal
from filot_contract.secrets import secret_weakness
from filot_gate.manifests import load_secrets_manifest
from filot_gate.secret_store import read_secret_string, secret_id_on_target

pytestmark = pytest.mark.preflight

MANIFEST = load_secrets_manifest()


def required_here(spec, settings) -> bool:
    """Required by the manifest, or the Temporal secret where the profile says the backend uses Temporal."""
    uses_temporal = spec.id.endswith("/" + temporal.SECRET_NAME) and settings.profile.get("temporal.enabled", False)
    return spec.required or bool(uses_temporal)


@pytest.mark.parametrize("spec", MANIFEST.secrets, ids=lambda spec: spec.id)
def test_secret_exists_and_passes_the_manifests_rules(target, settings, spec):
    secret_id = secret_id_on_target(target, spec.id)
    secret_string = read_secret_string(target, spec.id)
    if secret_string is None and not required_here(spec, settings):
        pytest.skip(f"optional secret {secret_id} is not set (used by {', '.join(spec.used_by)} only when enabled)")
    assert secret_string is not None, (
        f"secret {secret_id}: expected to exist in Secrets Manager (required by {', '.join(spec.used_by)}), it does not"
    )
    try:
        values = spec.decode(secret_string)
    except ValueError as exc:
        pytest.fail(f"secret {secret_id}: {exc}")
    problems = MANIFEST.check(spec, values)
    assert not problems, f"secret {secret_id}: expected every key to pass the manifest's rules; " + "; ".join(problems)


def test_jwt_secret_is_long_and_not_a_known_default(target):
    spec = next(s for s in MANIFEST.secrets if any(k.name == "JWT_SECRET" for k in s.keys))
    secret_string = read_secret_string(target, spec.id)
    assert secret_string is not None, f"secret {secret_id_on_target(target, spec.id)}: expected to exist, it does not"
    weakness = secret_weakness(spec.decode(secret_string)["JWT_SECRET"])
    assert weakness is None, (
        f"JWT_SECRET (secret {secret_id_on_target(target, spec.id)}): expected a strong random value"
        f" (seed 002 section 6: not the default); it {weakness}"
    )


def test_aws_account_id_is_the_account_the_deployed_task_definitions_use(target, aws_account_id, ecs, deploy_record, evidence):
    """Seed 003 "AWS_ACCOUNT_ID - Verify correct for ECS deployment", "Verify AWS_ACCOUNT_ID in ECS task definitions"."""
    spec = next(s for s in MANIFEST.secrets if any(k.name == "AWS_ACCOUNT_ID" for k in s.keys))
    secret_string = read_secret_string(target, spec.id)
    assert secret_string is not None, f"secret {secret_id_on_target(target, spec.id)}: expected to exist, it does not"
    recorded = spec.decode(secret_string)["AWS_ACCOUNT_ID"]
    named = {f"{key} {field}": account for key, record in deploy_record["services"].items() if key in aws_names.SERVICES
             for field, account in _accounts(ecs.describe_task_definition(taskDefinition=record["taskDefinitionArn"])["taskDefinition"])}
    evidence.add("accounts", {"AWS_ACCOUNT_ID": recorded, "aws sts get-caller-identity": aws_account_id, **named})
    assert recorded == aws_account_id, (
        f"AWS_ACCOUNT_ID (secret {secret_id_on_target(target, spec.id)}): expected {aws_account_id}, the account of the"
        f" gate's credentials (aws sts get-caller-identity), got {recorded}")
    elsewhere = {where: account for where, account in named.items() if account != recorded}
    assert not elsewhere, (f"deployed task definitions: expected every role and ECR image in account {recorded} (AWS_ACCOUNT_ID),"
                           f" got {elsewhere}")


def _accounts(task_definition: dict) -> list[tuple[str, str]]:
    """(field, account) of the task definition's IAM roles and ECR images (``<account>.dkr.ecr.<region>...``)."""
    found = [(field, task_definition[field].split(":")[4]) for field in ("taskRoleArn", "executionRoleArn")
             if task_definition.get(field)]
    return found + [(f"image of {c['name']}", c["image"].split(".", 1)[0]) for c in task_definition["containerDefinitions"]
                    if ".dkr.ecr." in c.get("image", "")]
