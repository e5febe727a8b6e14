"""Preflight: the IAM roles ECS needs exist (seed 000 "Prerequisites" 4 and section 0, seed 001 task roles,
seed 004 "IAM Roles"); each deployed task definition's execution role lets ECS pull its image, write its
logs and read its secrets (seed 004 "Execution role: ECR pull, CloudWatch write"); EPR's task role lets its
containers consume the audit queue and publish document-vault events (seed 004 "Check SQS Permissions");
no role grants more than ``infra/iam/roles.json`` declares (seed 004 "Use least-privilege IAM policies");
and the gate's own role may roll a no-go back (seed 000 section 8, DESIGN.md section 4), checked before the
rollback is needed rather than found out at a no-go."""

from __future__ import annotations

import json

import pytest

from filot_contract import aws_names
from filot_gate import execution_role
from filot_gate.checks import deployed_arn, unless_absent
from filot_gate.deploy.rollback import permissions_needed
from filot_gate.iam_policy import assumed_role_name, beyond, managed_policy, refused, role_name, role_policies
from filot_gate.manifests import ROLES_FILE, ManifestParams, load_roles
from filot_gate.messaging import queue_arn, topic_arn

pytestmark = pytest.mark.preflight


@pytest.mark.parametrize("role", aws_names.IAM_ROLES)
def test_iam_role_exists(target, role):
    found = unless_absent(lambda: target.client("iam").get_role(RoleName=role), "NoSuchEntity")
    assert found is not None, f"IAM role {role}: expected to exist (aws iam get-role), got NoSuchEntity"


@pytest.mark.parametrize("role", aws_names.IAM_ROLES)
def test_iam_role_grants_no_more_than_the_manifest_declares(target, settings, aws_account_id, role, evidence):
    iam = target.client("iam")
    live = unless_absent(lambda: role_policies(iam, role), "NoSuchEntity")
    if live is None:
        pytest.skip(f"IAM role {role} does not exist: test_iam_role_exists[{role}] fails for it")
    manifest = next(r for r in load_roles(ManifestParams(aws_account_id, settings.region))
                    if r.create_role["RoleName"] == role)
    declared = [json.loads(doc) for doc in manifest.inline_policies.values()]
    declared += [managed_policy(iam, arn) for arn in manifest.managed_policy_arns]
    evidence.add(f"policies of {role}", live)
    extra = beyond(live, declared)
    assert not extra, (
        f"IAM role {role}: expected to grant no more than {ROLES_FILE} declares (least privilege, seed 004), it also"
        f" grants {'; '.join(extra[:5])}{f' and {len(extra) - 5} more' if len(extra) > 5 else ''}"
        f" (aws iam list-role-policies / list-attached-role-policies --role-name {role})"
    )


@pytest.mark.parametrize("service_key", list(aws_names.SERVICES))
def test_execution_role_lets_ecs_start_the_deployed_tasks(target, ecs, deploy_record, settings, aws_account_id,
                                                          service_key, evidence):
    arn = deployed_arn(deploy_record, service_key)
    definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    revision = f"task definition {arn.rsplit('/', 1)[-1]} ({service_key})"
    assert definition.get("executionRoleArn"), (
        f"{revision}: expected an executionRoleArn, it has none; ECS cannot pull its image or read its secrets")
    needs = execution_role.needs(definition, settings.region, aws_account_id)
    role = role_name(definition["executionRoleArn"])
    policies = unless_absent(lambda: role_policies(target.client("iam"), role), "NoSuchEntity")
    assert policies is not None, f"{revision}: execution role {role} expected to exist (aws iam get-role), got NoSuchEntity"
    evidence.add(f"what ECS needs from {role} for {revision}", [f"{action} on {resource}" for action, resource in needs])
    evidence.add(f"policies of {role}", policies)
    missing = execution_role.by_action(refused(policies.values(), needs))
    assert not missing, (
        f"{revision}: expected execution role {role} ({', '.join(policies) or 'no policies'}) to allow"
        f" {'; '.join(missing)}; it does not, so every new task of it fails before it starts"
        f" (aws iam list-role-policies / list-attached-role-policies --role-name {role})"
    )


def test_epr_task_role_may_consume_the_audit_queue_and_publish_document_events(target, settings, aws_account_id, evidence):
    role = aws_names.EPR_TASK_ROLE
    needs = [(action, queue_arn(settings.region, aws_account_id, aws_names.EPR_AUDIT_QUEUE))
             for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage")]
    needs.append(("sns:Publish", topic_arn(settings.region, aws_account_id, aws_names.EPR_DOCUMENT_TOPIC)))
    policies = unless_absent(lambda: role_policies(target.client("iam"), role), "NoSuchEntity")
    assert policies is not None, f"IAM role {role}: expected to exist (aws iam get-role), got NoSuchEntity"
    evidence.add(f"policies of {role}", policies)
    missing = [f"{action} on {resource}" for action, resource in refused(policies.values(), needs)]
    assert not missing, (
        f"IAM role {role}: expected its policies ({', '.join(policies) or 'none'}) to allow {'; '.join(missing)};"
        f" they do not (aws iam get-role-policy --role-name {role} --policy-name {aws_names.EPR_QUEUE_POLICY})"
    )


def test_gate_role_may_roll_back_every_service(target, settings, aws_account_id, evidence):
    if settings.rollback == "off":
        pytest.skip("rollback mode off (profile [rollback] mode, --rollback): the gate changes nothing, it needs no rollback rights")
    identity = target.client("sts").get_caller_identity()["Arn"]
    role = assumed_role_name(identity)
    if role is None:
        pytest.skip(f"the gate runs as {identity}, not as an assumed IAM role: set profile [aws] role_arn to the role it"
                    " should use, and this check judges that role's rights to roll back")
    policies = unless_absent(lambda: role_policies(target.client("iam"), role), "NoSuchEntity")
    assert policies is not None, f"gate identity {identity}: its role {role} expected to exist (aws iam get-role), got NoSuchEntity"
    needed = list(dict.fromkeys(
        pair for cluster, service, _, _ in aws_names.SERVICES.values()
        for pair in permissions_needed(settings.region, aws_account_id, cluster, service, execute=settings.rollback == "auto")))
    evidence.add(f"what a rollback ({settings.rollback}) asks of role {role}", [f"{action} on {resource}" for action, resource in needed])
    evidence.add(f"policies of {role}", policies)
    missing = refused(policies.values(), needed)
    assert not missing, (
        f"gate identity {identity}: expected role {role} to allow what a rollback (mode {settings.rollback}) of a no-go"
        f" asks ECS for; it refuses {'; '.join(f'{action} on {resource}' for action, resource in missing)}, so a no-go"
        f" could not be rolled back (aws iam list-role-policies --role-name {role})"
    )
