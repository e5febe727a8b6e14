"""Faults in the emulated AWS, made through the same API calls an operator's mistake or an incident
would make (boto3 on the sandbox's endpoint); each heal puts back what the manifests say."""

from __future__ import annotations

import json
import secrets
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

from filot_contract import aws_names, metrics
from filot_gate.deploy import DeployRecord, write_record
from filot_gate.messaging import topic_arn
from filot_gate.metric_arrival import DEFAULT_METRIC_MAX_AGE_S, samples_within
from filot_gate.settings import load_profile
from filot_gate.manifests import (
    ImageRef, load_alarms, load_backend_scaling, load_dashboard, load_image_versions, load_roles, load_secrets_manifest)
from sandbox.api.defects import CONNECTION_CAP, QUEUE_METRIC_RENAMED
from sandbox.aws_seed import backend_scaling, ensure_log_group, image_manifest
from sandbox.images import DEFECT_ENV
from sandbox.metrics_bridge import RENAMED_QUEUE_LENGTH
from sandbox.config import REPO_ROOT
from sandbox.credentials import secret_values
from sandbox.deploy import BAD_ENVIRONMENT, deploy_revision
from sandbox.faults.context import FaultContext
from sandbox.faults.model import Fault, FaultError, Saved

SECRETS_MANIFEST = REPO_ROOT / "production_secrets_required.json"
DELETED_SECRET = f"{aws_names.SECRETS_PREFIX}/stack-auth"
JWT_SECRET = f"{aws_names.SECRETS_PREFIX}/jwt-secret"
REDIS_SECRET = f"{aws_names.SECRETS_PREFIX}/redis"
EPR_SECRET = f"{aws_names.SECRETS_PREFIX}/epr"
R2_SECRET = f"{aws_names.SECRETS_PREFIX}/cf-r2"
#: The bucket name ``storage-bucket-secret-wrong`` writes into the R2 secret: one that does not exist.
MISSING_BUCKET = "filot-documents-renamed"
#: A placeholder of the secrets manifest's knownDefaults: long enough for the length rule, still a default.
DEFAULT_JWT = "change-this-secret-in-production"
ACCOUNT_SECRET = f"{aws_names.SECRETS_PREFIX}/aws-account-id"
WATCHED_ALARM = "filot-ocr-gpu-queue-length-high"
QUEUE_WIDGET = "GPU OCR queue length"
#: The topic the ALB target 5xx alarm pages through (alerts/notifications.json).
PAGER_TOPIC = "filot-production-pager"
DELETED_ROLE = "ecsInfrastructureRoleForManagedInstances"
INSTANCE_ROLE = "ecsInstanceRole"
EXECUTION_ROLE = "ecsTaskExecutionRole"
EXECUTION_SECRETS_POLICY = "filot-read-production-secrets"
WRONG_HEALTH_CHECK_PATH = "/metrics"
WRONG_RETENTION_DAYS = 7
#: The instance type of the launch template version ``launch-template-not-gpu`` adds: no GPU.
NON_GPU_INSTANCE_TYPE = "m5.xlarge"
#: The GPU cluster's ECS Exec log group (infra/ecs/cluster.json).
EXEC_LOG_GROUP = f"/ecs/{aws_names.GPU_CLUSTER}"
#: The backend's maximumPercent of fault deploy-peak-over-database-limit (the manifest's is 200).
FAST_DEPLOY_PERCENT = 1000


# --- Secrets Manager ---------------------------------------------------------------------------------

def _put_secret(ctx: FaultContext, secret_id: str, value: Any) -> None:
    encoded = load_secrets_manifest().get(secret_id).encode(value)
    ctx.client("secretsmanager").put_secret_value(SecretId=secret_id, SecretString=encoded)


def restore_secret(ctx: FaultContext, secret_id: str, _: Saved | None = None) -> None:
    """The secret's value from the sandbox's credentials, as the seed stored it."""
    _put_secret(ctx, secret_id, secret_values(SECRETS_MANIFEST, ctx.env)[secret_id])


def _delete_secret(ctx: FaultContext) -> None:
    ctx.client("secretsmanager").delete_secret(SecretId=DELETED_SECRET, RecoveryWindowInDays=7)


def _undelete_secret(ctx: FaultContext, _: Saved) -> None:
    sm = ctx.client("secretsmanager")
    if sm.describe_secret(SecretId=DELETED_SECRET).get("DeletedDate"):
        sm.restore_secret(SecretId=DELETED_SECRET)
    restore_secret(ctx, DELETED_SECRET)


def _default_jwt(ctx: FaultContext) -> None:
    _put_secret(ctx, JWT_SECRET, DEFAULT_JWT)


def _another_account(ctx: FaultContext) -> None:
    """AWS_ACCOUNT_ID set to a well-formed account that is not the one the sandbox runs in."""
    _put_secret(ctx, ACCOUNT_SECRET, str((int(ctx.config.account_id) + 1) % 10**12).zfill(12))


def secret_rewritten(secret_id: str, key: str, rewrite: Callable[[str], str]) -> Callable[[FaultContext], None]:
    """One key of a JSON secret changed in Secrets Manager only: running tasks keep the value they started with."""
    def act(ctx: FaultContext) -> None:
        value = dict(secret_values(SECRETS_MANIFEST, ctx.env)[secret_id])
        _put_secret(ctx, secret_id, {**value, key: rewrite(value[key])})
    return act


def _plain_scheme(url: str) -> str:
    return "redis://" + url.split("://", 1)[1]


def _wrong_password(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}:not-{secrets.token_urlsafe(12)}@{parts.hostname}:{parts.port}"))


# --- ECR -------------------------------------------------------------------------------------------

def _push(ctx: FaultContext, repository: str, digest: str | None = None) -> None:
    """Push the images of ``image-versions.json`` (or the one with ``digest``) to a repository."""
    ecr = ctx.client("ecr")
    versions = load_image_versions()[repository]
    images = [i for i in (versions.previous, versions.current) if i is not None and digest in (None, i.digest)]
    if not images:
        raise FaultError(f"ECR {repository}: image {digest} is not in image-versions.json; cannot push it back")
    for image in images:
        manifest = image_manifest(repository, image.tag)
        try:
            ecr.put_image(repositoryName=repository, imageTag=image.tag, imageDigest=image.digest,
                          imageManifest=manifest, imageManifestMediaType=json.loads(manifest)["mediaType"])
        except ecr.exceptions.ImageAlreadyExistsException:
            pass


def _delete_repository(ctx: FaultContext) -> None:
    ctx.client("ecr").delete_repository(repositoryName=aws_names.GPU_REPOSITORY, force=True)


def _recreate_repository(ctx: FaultContext, _: Saved) -> None:
    ecr = ctx.client("ecr")
    try:
        ecr.create_repository(repositoryName=aws_names.GPU_REPOSITORY, imageScanningConfiguration={"scanOnPush": True})
    except ecr.exceptions.RepositoryAlreadyExistsException:
        pass
    _push(ctx, aws_names.GPU_REPOSITORY)


def _delete_image(ctx: FaultContext) -> None:
    digest = ctx.record()["services"]["backend"]["imageDigest"]
    ctx.keep({"digest": digest})
    ctx.client("ecr").batch_delete_image(repositoryName=aws_names.BACKEND_REPOSITORY, imageIds=[{"imageDigest": digest}])


def _push_image(ctx: FaultContext, saved: Saved) -> None:
    if "digest" in saved:  # else the injection failed before it deleted anything
        _push(ctx, aws_names.BACKEND_REPOSITORY, saved["digest"])


def _defective_release(key: str, defect: str) -> Callable[[FaultContext], None]:
    """A build of service ``key`` with the bug ``defect`` (``sandbox.api.defects``, ``sandbox.worker.defects``),
    shipped as a release is: its image pushed to ECR, a new revision of the manifest pinned to its digest, the
    deploy record naming it. Only the image differs from a sound deploy."""

    def act(ctx: FaultContext) -> None:
        repository = aws_names.REPOSITORIES[key]
        tag = f"{load_image_versions()[repository].current.tag}-{defect}"
        manifest = image_manifest(repository, tag, env={DEFECT_ENV: defect})
        ecr = ctx.client("ecr")
        try:
            digest = ecr.put_image(repositoryName=repository, imageTag=tag, imageManifest=manifest,
                                   imageManifestMediaType=json.loads(manifest)["mediaType"])["image"]["imageId"]["imageDigest"]
        except ecr.exceptions.ImageAlreadyExistsException:
            digest = ecr.describe_images(repositoryName=repository,
                                         imageIds=[{"imageTag": tag}])["imageDetails"][0]["imageDigest"]
        saved = ctx.keep({"taskDefinitionArn": describe_service(ctx, key)["taskDefinition"], "record": ctx.record()})
        record = deploy_revision(ctx.config, key, {}, run_id=saved["record"]["runId"], build=ImageRef(repository, tag, digest))
        ctx.wait_stable(key, record.task_definition_arn)

    return act


# --- GPU capacity and IAM --------------------------------------------------------------------------

def _queue_length_arriving(arriving: bool) -> Callable[[FaultContext, Saved | None], None]:
    """Waits until CloudWatch shows ``FiLot/QueueLength`` arriving (or not) as the sandbox's gate judges it:
    a datapoint within the local profile's ``[deadlines] metric_max_age_s``."""
    def wait(ctx: FaultContext, _: Saved | None = None) -> None:
        within_s = load_profile(REPO_ROOT / "profiles" / "local.toml").get("deadlines.metric_max_age_s",
                                                                         DEFAULT_METRIC_MAX_AGE_S)
        ctx.wait(lambda: samples_within(ctx.client("cloudwatch"), metrics.NAMESPACE, metrics.QUEUE_LENGTH, [], within_s),
                 lambda samples: bool(samples) == arriving,
                 f"{metrics.NAMESPACE}/{metrics.QUEUE_LENGTH} {'arriving' if arriving else 'stopped'} (datapoints"
                 f" within {within_s:g}s)", describe=lambda samples: f"{samples} datapoints")
    return wait


def _renamed_queue_metric_release(ctx: FaultContext) -> None:
    _defective_release("backend", QUEUE_METRIC_RENAMED)(ctx)
    _queue_length_arriving(False)(ctx)


def _queue_metric_back(ctx: FaultContext, saved: Saved) -> None:
    backend_back(ctx, saved)
    _queue_length_arriving(True)(ctx)


def _gpu_instance(ctx: FaultContext) -> str:
    groups = ctx.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[aws_names.GPU_ASG])
    instances = groups["AutoScalingGroups"][0]["Instances"] if groups["AutoScalingGroups"] else []
    if not instances:
        raise FaultError(f"ASG {aws_names.GPU_ASG}: expected an instance, it has none")
    return instances[0]["InstanceId"]


def _instance_health(status: str):
    def act(ctx: FaultContext, _: Saved | None = None) -> None:
        ctx.client("autoscaling").set_instance_health(InstanceId=_gpu_instance(ctx), HealthStatus=status,
                                                     ShouldRespectGracePeriod=False)
    return act


def _instance_profile(ctx: FaultContext) -> str:
    version = ctx.client("ec2").describe_launch_template_versions(
        LaunchTemplateName=aws_names.GPU_LAUNCH_TEMPLATE, Versions=["$Default"])["LaunchTemplateVersions"][0]
    profile = version["LaunchTemplateData"].get("IamInstanceProfile") or {}
    return profile.get("Name") or profile.get("Arn", "").rsplit("/", 1)[-1]


def _remove_instance_role(ctx: FaultContext) -> None:
    ctx.client("iam").remove_role_from_instance_profile(InstanceProfileName=_instance_profile(ctx), RoleName=INSTANCE_ROLE)


def _add_instance_role(ctx: FaultContext, _: Saved) -> None:
    iam = ctx.client("iam")
    profile = _instance_profile(ctx)
    roles = [r["RoleName"] for r in iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]]
    if INSTANCE_ROLE not in roles:
        iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=INSTANCE_ROLE)


def _delete_role(ctx: FaultContext) -> None:
    """As IAM requires: policies detached, inline policies deleted, out of its instance profiles, then deleted."""
    iam = ctx.client("iam")
    for policy in iam.list_attached_role_policies(RoleName=DELETED_ROLE)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=DELETED_ROLE, PolicyArn=policy["PolicyArn"])
    for name in iam.list_role_policies(RoleName=DELETED_ROLE)["PolicyNames"]:
        iam.delete_role_policy(RoleName=DELETED_ROLE, PolicyName=name)
    for profile in iam.list_instance_profiles_for_role(RoleName=DELETED_ROLE)["InstanceProfiles"]:
        iam.remove_role_from_instance_profile(InstanceProfileName=profile["InstanceProfileName"], RoleName=DELETED_ROLE)
    iam.delete_role(RoleName=DELETED_ROLE)


def _recreate_role(ctx: FaultContext, _: Saved) -> None:
    iam = ctx.client("iam")
    role = next(r for r in load_roles(ctx.manifest_params()) if r.create_role["RoleName"] == DELETED_ROLE)
    try:
        iam.create_role(**role.create_role)
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    for policy_arn in role.managed_policy_arns:
        try:
            iam.attach_role_policy(RoleName=DELETED_ROLE, PolicyArn=policy_arn)
        except iam.exceptions.NoSuchEntityException:
            ctx.say(f"note: {policy_arn} does not exist in this moto (the seed could not attach it either)")
    for name, document in role.inline_policies.items():
        iam.put_role_policy(RoleName=DELETED_ROLE, PolicyName=name, PolicyDocument=document)
    if role.instance_profile:
        profile = iam.get_instance_profile(InstanceProfileName=role.instance_profile)["InstanceProfile"]
        if DELETED_ROLE not in [r["RoleName"] for r in profile["Roles"]]:
            iam.add_role_to_instance_profile(InstanceProfileName=role.instance_profile, RoleName=DELETED_ROLE)


def remove_inline_policy(role: str, policy: str) -> Callable[[FaultContext], None]:
    """``aws iam delete-role-policy``: an inline policy of ``role`` deleted."""
    def remove(ctx: FaultContext) -> None:
        ctx.client("iam").delete_role_policy(RoleName=role, PolicyName=policy)

    return remove


def restore_inline_policy(role: str, policy: str) -> Callable[[FaultContext, Saved], None]:
    """The inline policy put back as ``infra/iam/roles.json`` has it."""
    def restore(ctx: FaultContext, _: Saved) -> None:
        manifest = next(r for r in load_roles(ctx.manifest_params()) if r.create_role["RoleName"] == role)
        ctx.client("iam").put_role_policy(RoleName=role, PolicyName=policy, PolicyDocument=manifest.inline_policies[policy])

    return restore


def _gate_role_without_ecs_lists(ctx: FaultContext) -> None:
    """``ecs:List*`` dropped from the gate role's read policy (a least-privilege clean-up): the gate can
    no longer find the revision to roll back to."""
    iam = ctx.client("iam")
    document = iam.get_role_policy(RoleName=aws_names.GATE_ROLE, PolicyName=aws_names.GATE_READ_POLICY)["PolicyDocument"]
    for statement in document["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement["Action"] = [action for action in actions if action != "ecs:List*"]
    iam.put_role_policy(RoleName=aws_names.GATE_ROLE, PolicyName=aws_names.GATE_READ_POLICY, PolicyDocument=json.dumps(document))


# --- ECS services -----------------------------------------------------------------------------------

def describe_service(ctx: FaultContext, key: str) -> dict[str, Any]:
    cluster, service, _, _ = aws_names.SERVICES[key]
    return ctx.client("ecs").describe_services(cluster=cluster, services=[service])["services"][0]


def update_service(ctx: FaultContext, key: str, **changes: Any) -> None:
    cluster, service, _, _ = aws_names.SERVICES[key]
    ctx.client("ecs").update_service(cluster=cluster, service=service, **changes)


def force_new_deployment(ctx: FaultContext, key: str) -> None:
    """``aws ecs update-service --force-new-deployment``: every task replaced, the service stable again."""
    before = {t["task"] for t in ctx.tasks(key)}
    update_service(ctx, key, forceNewDeployment=True)
    ctx.wait(lambda: {t["task"] for t in ctx.tasks(key)}, lambda ids: not ids & before,
             f"the tasks of {aws_names.SERVICES[key][1]} replaced by a new deployment")
    ctx.wait_stable(key)


def _scale_worker_to_zero(ctx: FaultContext) -> None:
    ctx.keep({"desiredCount": describe_service(ctx, "ocr-gpu")["desiredCount"]})
    update_service(ctx, "ocr-gpu", desiredCount=0)
    ctx.wait_stable("ocr-gpu")


def _scale_worker_back(ctx: FaultContext, saved: Saved) -> None:
    if "desiredCount" not in saved:  # the injection failed before it scaled anything
        return
    update_service(ctx, "ocr-gpu", desiredCount=int(saved["desiredCount"]))
    ctx.wait_stable("ocr-gpu")


def _previous_revision(ctx: FaultContext) -> None:
    previous = ctx.record()["services"]["backend"].get("previousTaskDefinitionArn")
    if not previous:
        raise FaultError("deploy record: the backend has no previous revision to run instead")
    _run_revision(ctx, "backend", previous)


def _recorded_revision(ctx: FaultContext, _: Saved) -> None:
    _run_revision(ctx, "backend", ctx.record()["services"]["backend"]["taskDefinitionArn"])


def _run_revision(ctx: FaultContext, key: str, task_definition_arn: str) -> None:
    update_service(ctx, key, taskDefinition=task_definition_arn)
    ctx.wait_stable(key, task_definition_arn)


def _change_deployment_configuration(ctx: FaultContext, **changes: Any) -> None:
    """The backend's deploymentConfiguration with ``changes``; keeps the one it had (for the heal)."""
    configuration = describe_service(ctx, "backend")["deploymentConfiguration"]
    ctx.keep({"deploymentConfiguration": configuration})
    update_service(ctx, "backend", deploymentConfiguration={**configuration, **changes})


def _breaker_off(ctx: FaultContext, keep_enabled: bool = False) -> None:
    """Rollback off; the breaker itself too unless ``keep_enabled``."""
    return _change_deployment_configuration(ctx, deploymentCircuitBreaker={"enable": keep_enabled, "rollback": False})


def _max_percent(percent: int):
    """A deploy may run ``percent`` of the backend's desired tasks at once ("faster deploys")."""
    def act(ctx: FaultContext) -> None:
        _change_deployment_configuration(ctx, maximumPercent=percent)
    return act


def _placement_strategy(strategy: list[dict[str, str]] | None):
    """The worker's placement strategy replaced (None: the manifest's)."""
    def act(ctx: FaultContext, _: Saved | None = None) -> None:
        from filot_gate.manifests import SERVICE_FILES, read_json

        wanted = read_json(SERVICE_FILES["ocr-gpu"])["placementStrategy"] if strategy is None else strategy
        update_service(ctx, "ocr-gpu", placementStrategy=wanted)
    return act


def _container_insights(value: str):
    def act(ctx: FaultContext, _: Saved | None = None) -> None:
        ctx.client("ecs").update_cluster(cluster=aws_names.GPU_CLUSTER, settings=[{"name": "containerInsights", "value": value}])
    return act


def _deployment_configuration_back(ctx: FaultContext, saved: Saved) -> None:
    if "deploymentConfiguration" in saved:  # else the injection failed before it changed it
        update_service(ctx, "backend", deploymentConfiguration=saved["deploymentConfiguration"])


def _primary_rollout(ctx: FaultContext, key: str) -> str:
    return describe_service(ctx, key)["deployments"][0].get("rolloutState", "-")


def _failed_deployment(ctx: FaultContext) -> None:
    """An operator turns the breaker's rollback off "to debug", then deploys a revision that cannot start:
    the circuit breaker marks it FAILED and nothing rolls it back; the old tasks keep serving."""
    saved = ctx.keep({"taskDefinitionArn": describe_service(ctx, "backend")["taskDefinition"], "record": ctx.record()})
    _breaker_off(ctx, keep_enabled=True)
    deploy_revision(ctx.config, "backend", BAD_ENVIRONMENT["backend"], run_id=saved["record"]["runId"])
    ctx.wait(lambda: _primary_rollout(ctx, "backend"), lambda state: state == "FAILED",
             f"the new deployment of {aws_names.BACKEND_SERVICE} FAILED by the circuit breaker")


def _serving_revision_back(ctx: FaultContext, saved: Saved) -> None:
    """The service back on the revision that served before, the breaker and the deploy record as they were."""
    backend_back(ctx, saved)
    _deployment_configuration_back(ctx, saved)


def release_back(key: str) -> Callable[[FaultContext, Saved], None]:
    """Service ``key`` back on ``saved["taskDefinitionArn"]``, and the deploy record ``saved["record"]`` again."""
    def heal(ctx: FaultContext, saved: Saved) -> None:
        if "taskDefinitionArn" not in saved:  # the injection failed before it deployed anything
            return
        _run_revision(ctx, key, saved["taskDefinitionArn"])
        write_record(ctx.config.deploy_record, DeployRecord.from_json(saved["record"]))
    return heal


backend_back = release_back("backend")


def _defective_backend(name: str, defect: str, build: str, fails: str) -> Fault:
    """The fault that ships a backend build with ``defect`` (``sandbox.api.defects``); ``build`` says what
    it does wrong, as in "a backend build <build>"."""
    return Fault(name, f"a backend build {build}, pushed to ECR and deployed", fails,
                 _defective_release("backend", defect), backend_back)


def _gpu_container_instances(ctx: FaultContext) -> list[str]:
    arns = ctx.client("ecs").list_container_instances(cluster=aws_names.GPU_CLUSTER)["containerInstanceArns"]
    if not arns:
        raise FaultError(f"ECS cluster {aws_names.GPU_CLUSTER}: expected a container instance, found none")
    return arns


def _drain_gpu_instance(ctx: FaultContext) -> None:
    ctx.client("ecs").update_container_instances_state(
        cluster=aws_names.GPU_CLUSTER, containerInstances=_gpu_container_instances(ctx), status="DRAINING")
    ctx.wait(lambda: describe_service(ctx, "ocr-gpu"), lambda s: s["runningCount"] == 0 and not ctx.tasks("ocr-gpu"),
             "the GPU worker's tasks stopped", describe=lambda s: f"running {s['runningCount']}/{s['desiredCount']}")


def _activate_gpu_instance(ctx: FaultContext, _: Saved) -> None:
    ctx.client("ecs").update_container_instances_state(
        cluster=aws_names.GPU_CLUSTER, containerInstances=_gpu_container_instances(ctx), status="ACTIVE")
    ctx.wait_stable("ocr-gpu")


# --- the services' target groups -----------------------------------------------------------------------

def target_group_arn(ctx: FaultContext, service: str = "backend") -> str:
    name = aws_names.TARGET_GROUPS[service][0]
    return ctx.client("elbv2").describe_target_groups(Names=[name])["TargetGroups"][0]["TargetGroupArn"]


def target_states(ctx: FaultContext, service: str = "backend") -> dict[str, str]:
    """ip -> target state, as describe-target-health reports it."""
    described = ctx.client("elbv2").describe_target_health(
        TargetGroupArn=target_group_arn(ctx, service))["TargetHealthDescriptions"]
    return {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in described}


def _deregister_target(service: str) -> Callable[[FaultContext], Saved]:
    def act(ctx: FaultContext) -> Saved:
        task = ctx.tasks(service)[0]
        ctx.client("elbv2").deregister_targets(TargetGroupArn=target_group_arn(ctx, service),
                                               Targets=[{"Id": task["ip"], "Port": ctx.config.container_port}])
        return {"ip": task["ip"]}
    return act


def _register_targets(service: str) -> Callable[[FaultContext, Saved], None]:
    """Register every running task of ``service`` that is not a target (the one deregistered, or its replacement)."""
    def act(ctx: FaultContext, _: Saved) -> None:
        registered = target_states(ctx, service)
        missing = [t["ip"] for t in ctx.tasks(service) if t["ip"] not in registered]
        if missing:
            ctx.client("elbv2").register_targets(TargetGroupArn=target_group_arn(ctx, service),
                                                 Targets=[{"Id": ip, "Port": ctx.config.container_port} for ip in missing])
        ctx.wait(lambda: target_states(ctx, service), lambda s: all(s.get(t["ip"]) == "healthy" for t in ctx.tasks(service)),
                 f"every {service} task a healthy target")
    return act


def _health_check_path(path: str):
    def act(ctx: FaultContext, _: Saved | None = None) -> None:
        ctx.client("elbv2").modify_target_group(TargetGroupArn=target_group_arn(ctx), HealthCheckPath=path)
    return act


# --- CloudWatch Logs and alarms ---------------------------------------------------------------------------

def _retention(days: int):
    def act(ctx: FaultContext, _: Saved | None = None) -> None:
        ctx.client("logs").put_retention_policy(logGroupName=aws_names.BACKEND_LOG_GROUP, retentionInDays=days)
    return act


def _add_non_gpu_template_version(ctx: FaultContext) -> None:
    """A new latest version of the GPU launch template, the latest one's data with an m5 instance type: what
    "Modify template (create new version)" in the console makes, and what the ASG ($Latest) launches next."""
    ec2 = ctx.client("ec2")
    latest = ec2.describe_launch_template_versions(LaunchTemplateName=aws_names.GPU_LAUNCH_TEMPLATE,
                                                   Versions=["$Latest"])["LaunchTemplateVersions"][0]
    ctx.keep({"template": aws_names.GPU_LAUNCH_TEMPLATE})
    created = ec2.create_launch_template_version(
        LaunchTemplateName=aws_names.GPU_LAUNCH_TEMPLATE, VersionDescription=f"{NON_GPU_INSTANCE_TYPE}, cheaper for a test",
        LaunchTemplateData={**latest["LaunchTemplateData"], "InstanceType": NON_GPU_INSTANCE_TYPE})
    ctx.keep({"version": created["LaunchTemplateVersion"]["VersionNumber"]})


def _delete_added_template_version(ctx: FaultContext, saved: Saved) -> None:
    if "version" in saved:
        ctx.client("ec2").delete_launch_template_versions(LaunchTemplateName=aws_names.GPU_LAUNCH_TEMPLATE,
                                                          Versions=[str(saved["version"])])


def _remove_backend_scaling(ctx: FaultContext) -> None:
    """What deleting the scalable target does on AWS: its scaling policies go with it (moto keeps them, so
    they are deleted first)."""
    autoscaling = ctx.client("application-autoscaling")
    target = load_backend_scaling(ctx.manifest_params())["ScalableTarget"]
    selector = {k: target[k] for k in ("ServiceNamespace", "ResourceId", "ScalableDimension")}
    ctx.keep({"resourceId": target["ResourceId"]})
    for policy in autoscaling.describe_scaling_policies(**selector)["ScalingPolicies"]:
        autoscaling.delete_scaling_policy(PolicyName=policy["PolicyName"], **selector)
    autoscaling.deregister_scalable_target(**selector)


def _restore_backend_scaling(ctx: FaultContext, _: Saved) -> None:
    backend_scaling(ctx.client("application-autoscaling"), ctx.manifest_params())


def _delete_exec_log_group(ctx: FaultContext) -> None:
    ctx.client("logs").delete_log_group(logGroupName=EXEC_LOG_GROUP)


def _create_exec_log_group(ctx: FaultContext, _: Saved) -> None:
    ensure_log_group(ctx.client("logs"), EXEC_LOG_GROUP)


def _delete_startup_stream(ctx: FaultContext) -> None:
    task = ctx.tasks("backend")[0]
    ctx.keep({"task": task["task"]})
    ctx.client("logs").delete_log_stream(logGroupName=task["logGroup"], logStreamName=task["logStream"])


def _replace_task(ctx: FaultContext, saved: Saved) -> None:
    """An operator's fix: stop the task whose start-up lines are lost; the service starts a fresh one."""
    task_id = saved.get("task")
    if task_id and any(t["task"] == task_id for t in ctx.tasks("backend")):
        ctx.client("ecs").stop_task(cluster=aws_names.BACKEND_CLUSTER, task=task_id,
                                    reason="Task stopped by operator: replaced because its start-up log lines were lost")
        ctx.wait(lambda: [t["task"] for t in ctx.tasks("backend")], lambda ids: task_id not in ids,
                 f"backend task {task_id} stopped")
    ctx.wait_stable("backend")


def _manifest_alarm(ctx: FaultContext, name: str) -> dict[str, Any]:
    return next(a for a in load_alarms(ctx.manifest_params()) if a["AlarmName"] == name)


def _delete_alarm(ctx: FaultContext) -> None:
    ctx.client("cloudwatch").delete_alarms(AlarmNames=[WATCHED_ALARM])


def _put_manifest_alarm(ctx: FaultContext, _: Saved) -> None:
    ctx.client("cloudwatch").put_metric_alarm(**_manifest_alarm(ctx, WATCHED_ALARM))


def _raise_threshold(ctx: FaultContext) -> None:
    alarm = _manifest_alarm(ctx, WATCHED_ALARM)
    ctx.client("cloudwatch").put_metric_alarm(**{**alarm, "Threshold": alarm["Threshold"] * 10})


def _pager_topic_arn(ctx: FaultContext) -> str:
    return topic_arn(ctx.config.region, ctx.config.account_id, PAGER_TOPIC)


def _unsubscribe_pager(ctx: FaultContext) -> None:
    sns = ctx.client("sns")
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=_pager_topic_arn(ctx))["Subscriptions"]
    ctx.keep({"subscriptions": [{"Protocol": s["Protocol"], "Endpoint": s["Endpoint"]} for s in subscriptions]})
    for subscription in subscriptions:
        sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])


def _resubscribe_pager(ctx: FaultContext, saved: Saved) -> None:
    for subscription in saved.get("subscriptions", []):
        ctx.client("sns").subscribe(TopicArn=_pager_topic_arn(ctx), **subscription)


def _delete_dashboard(ctx: FaultContext) -> None:
    name = load_dashboard(ctx.manifest_params())["DashboardName"]
    ctx.client("cloudwatch").delete_dashboards(DashboardNames=[name])


def _put_dashboard(ctx: FaultContext, _: Saved) -> None:
    ctx.client("cloudwatch").put_dashboard(**load_dashboard(ctx.manifest_params()))


def _dashboard_on_renamed_queue_metric(ctx: FaultContext) -> None:
    """The dashboard edited by hand: its queue-length widget shows the name a release renamed the metric to."""
    dashboard = load_dashboard(ctx.manifest_params())
    body = json.loads(dashboard["DashboardBody"])
    widget = next(w for w in body["widgets"] if w["properties"].get("title") == QUEUE_WIDGET)
    widget["properties"]["metrics"] = [[metrics.NAMESPACE, RENAMED_QUEUE_LENGTH]]
    ctx.client("cloudwatch").put_dashboard(DashboardName=dashboard["DashboardName"], DashboardBody=json.dumps(body))


FAULTS = [
    Fault("missing-secret", f"secret {DELETED_SECRET} deleted (scheduled for deletion, 7-day recovery)",
          "preflight test_secret_exists_and_passes_the_manifests_rules[.../stack-auth]",
          _delete_secret, _undelete_secret),
    Fault("default-jwt-secret", f"secret {JWT_SECRET} set to a known default placeholder (new tasks would use it)",
          "preflight test_jwt_secret_is_long_and_not_a_known_default (+ the manifest rule check of jwt-secret)",
          _default_jwt, lambda ctx, saved: restore_secret(ctx, JWT_SECRET)),
    Fault("aws-account-id-wrong", f"secret {ACCOUNT_SECRET} set to another (well-formed) account id",
          "preflight test_aws_account_id_is_the_account_the_deployed_task_definitions_use",
          _another_account, lambda ctx, saved: restore_secret(ctx, ACCOUNT_SECRET)),
    Fault("redis-not-tls", f"REDIS_URL in secret {REDIS_SECRET} rewritten to redis:// (no TLS)",
          "preflight test_redis_url_uses_tls_scheme, test_redis_answers_over_tls_and_requires_auth, manifest rule of redis",
          secret_rewritten(REDIS_SECRET, "REDIS_URL", _plain_scheme),
          lambda ctx, saved: restore_secret(ctx, REDIS_SECRET)),
    Fault("storage-bucket-secret-wrong", f"CF_R2_BUCKET_NAME in secret {R2_SECRET} set to {MISSING_BUCKET}, a bucket that"
          " does not exist (running backend tasks keep the one they started with)",
          "preflight test_bucket_takes_the_secrets_credentials_and_serves_a_presigned_download",
          secret_rewritten(R2_SECRET, "CF_R2_BUCKET_NAME", lambda _: MISSING_BUCKET),
          lambda ctx, saved: restore_secret(ctx, R2_SECRET)),
    Fault("epr-database-password-wrong", f"EPR_DATABASE_URL in secret {EPR_SECRET} given a password the database does not"
          " know (running EPR tasks keep the one they started with)",
          "preflight test_epr_database_answers_with_the_secrets_credentials",
          secret_rewritten(EPR_SECRET, "EPR_DATABASE_URL", _wrong_password),
          lambda ctx, saved: restore_secret(ctx, EPR_SECRET)),
    Fault("epr-redis-token-wrong", f"EPR_REDIS_TOKEN in secret {EPR_SECRET} replaced by a token Upstash does not know"
          " (running EPR tasks keep the one they started with)", "preflight test_epr_redis_answers_ping_with_the_secrets_token",
          secret_rewritten(EPR_SECRET, "EPR_REDIS_TOKEN", lambda _: secrets.token_urlsafe(32)),
          lambda ctx, saved: restore_secret(ctx, EPR_SECRET)),
    Fault("ecr-repository-missing", f"ECR repository {aws_names.GPU_REPOSITORY} deleted with its images",
          "preflight test_ecr_repository_exists, test_deployed_image_digest_exists_in_ecr (ocr-gpu)",
          _delete_repository, _recreate_repository),
    Fault("image-missing", f"the backend's deployed image digest deleted from ECR {aws_names.BACKEND_REPOSITORY}",
          "preflight test_deployed_image_digest_exists_in_ecr[backend]", _delete_image, _push_image),
    _defective_backend("backend-release-without-input-validation", "no-input-validation",
                      "whose verification routes take any document id (the database refuses a malformed one: 503"
                      " instead of 422)",
                      "e2e test_malformed_request_is_refused_with_a_clear_4xx[status-id-not-a-uuid, evaluate-id-not-a-uuid]"),
    _defective_backend("backend-release-capped-at-4-connections", "connection-cap",
                      f"whose server answers 503 once a task holds {CONNECTION_CAP} connections, the new one included"
                      " (a debugging leftover)", "e2e test_api_serves_the_expected_number_of_users_at_once"),
    _defective_backend("backend-release-with-optional-callback-signature", "callback-signature-optional",
                      "that checks a BULI2 callback's signature only when it has one (an unsigned callback is taken as"
                      " BULI2's)", "e2e test_callback_without_a_signature_is_refused_with_401"),
    _defective_backend("backend-release-crashing-on-malformed-callbacks", "callback-validation-unhandled",
                      "that lets a signed callback's invalid body escape as an exception (500 instead of 400)",
                      "e2e test_signed_malformed_callback_is_refused_with_a_clear_4xx[callback-*]"),
    _defective_backend("backend-release-without-evaluate-rate-limit", "evaluate-not-rate-limited",
                      "whose admin re-scoring route has no rate limit (the upload route keeps its own)",
                      "e2e test_rate_limit_answers_429_with_retry_after[evaluate]"),
    _defective_backend("backend-release-storing-scores-as-fractions", "score-stored-as-fraction",
                      "that records each score as a 0-1 fraction while it decides on the 0-100 score (decisions right,"
                      " stored scores 100x too low)",
                      "e2e test_backend_scores_the_result_and_records_the_status, test_degraded_ktp_is_routed_to_manual_review"),
    Fault("backend-release-renaming-the-queue-metric", f"a backend build that publishes the queue length to CloudWatch"
          f" as {RENAMED_QUEUE_LENGTH}, pushed to ECR and deployed: the queue-length alarms watch"
          f" {metrics.QUEUE_LENGTH}, which stops arriving, and can no longer fire",
          "infra test_metric_the_alarm_watches_is_arriving[filot-ocr-gpu-queue-length-high, -critical]",
          _renamed_queue_metric_release, _queue_metric_back),
    Fault("worker-release-without-job-lines", "an OCR worker build that logs its per-job line (the OCR result) at debug"
          " level, pushed to ECR and deployed: jobs are done, and the worker's log shows none of them",
          "e2e test_worker_logs_the_ocr_result_of_the_job", _defective_release("ocr-gpu", "job-line-at-debug"),
          release_back("ocr-gpu")),
    Fault("asg-instance-unhealthy", f"the GPU instance of ASG {aws_names.GPU_ASG} marked Unhealthy (set-instance-health)",
          "preflight test_gpu_asg_has_an_in_service_healthy_instance", _instance_health("Unhealthy"), _instance_health("Healthy")),
    Fault("launch-template-not-gpu", f"a new latest version of launch template {aws_names.GPU_LAUNCH_TEMPLATE} with instance"
          f" type {NON_GPU_INSTANCE_TYPE}: the running GPU instance stays, the next one the ASG launches has no GPU",
          "preflight test_gpu_asg_launches_the_manifests_gpu_instances_into_the_gpu_cluster",
          _add_non_gpu_template_version, _delete_added_template_version),
    Fault("instance-profile-missing", f"role {INSTANCE_ROLE} removed from the GPU launch template's instance profile",
          "preflight test_gpu_instances_launch_with_the_ecs_instance_profile", _remove_instance_role, _add_instance_role),
    Fault("iam-role-missing", f"IAM role {DELETED_ROLE} deleted", f"preflight test_iam_role_exists[{DELETED_ROLE}]",
          _delete_role, _recreate_role),
    Fault("gate-role-cannot-list-revisions", f"ecs:List* dropped from the gate role's {aws_names.GATE_READ_POLICY} policy (a"
          f" least-privilege clean-up): role {aws_names.GATE_ROLE} can no longer plan a rollback",
          "preflight test_gate_role_may_roll_back_every_service", _gate_role_without_ecs_lists,
          restore_inline_policy(aws_names.GATE_ROLE, aws_names.GATE_READ_POLICY)),
    Fault("execution-role-cannot-read-secrets", f"inline policy {EXECUTION_SECRETS_POLICY} removed from IAM role"
          f" {EXECUTION_ROLE}: running tasks go on, every new task fails to fetch its secrets",
          "preflight test_execution_role_lets_ecs_start_the_deployed_tasks (every service)",
          remove_inline_policy(EXECUTION_ROLE, EXECUTION_SECRETS_POLICY),
          restore_inline_policy(EXECUTION_ROLE, EXECUTION_SECRETS_POLICY)),
    Fault("worker-scaled-to-zero", f"{aws_names.GPU_SERVICE} desiredCount set to 0 (update-service)",
          "infra test_service_is_active_with_running_equal_to_desired[ocr-gpu] (+ its task and log checks)",
          _scale_worker_to_zero, _scale_worker_back),
    Fault("worker-down", "the GPU container instance set DRAINING: worker tasks stopped, none can be placed",
          "preflight test_gpu_cluster_has_an_active_container_instance_with_its_agent_connected; infra running =="
          " desired [ocr-gpu]; gpu worker checks; alarm filot-ocr-gpu-worker-down",
          _drain_gpu_instance, _activate_gpu_instance),
    Fault("service-wrong-revision", f"{aws_names.BACKEND_SERVICE} updated to the previous revision, deploy record unchanged",
          "infra test_service_runs_exactly_the_deployed_revision[backend] (+ task revision and start-up line checks)",
          _previous_revision, _recorded_revision),
    Fault("deployment-failed", f"{aws_names.BACKEND_SERVICE}: the circuit breaker's rollback turned off, then a revision"
          " that cannot start deployed (and recorded): FAILED, the previous revision's tasks keep serving",
          "infra test_primary_deployment_completed[backend], test_no_deployment_failed[backend] (+ breaker, task revision)",
          _failed_deployment, _serving_revision_back),
    Fault("circuit-breaker-off", f"{aws_names.BACKEND_SERVICE} deploymentCircuitBreaker enable=false rollback=false",
          "infra test_circuit_breaker_is_enabled_with_rollback[backend]", _breaker_off, _deployment_configuration_back),
    Fault("worker-placement-binpack", f"{aws_names.GPU_SERVICE} placement strategy binpack on memory instead of a spread"
          " across availability zones (one AZ outage takes every worker)",
          "infra test_service_is_configured_as_its_manifest_says[ocr-gpu]",
          _placement_strategy([{"type": "binpack", "field": "memory"}]), _placement_strategy(None)),
    Fault("container-insights-off", f"ECS cluster {aws_names.GPU_CLUSTER} with Container Insights disabled (no task metrics)",
          f"preflight test_ecs_cluster_is_set_up_as_its_manifest_says[{aws_names.GPU_CLUSTER}]",
          _container_insights("disabled"), _container_insights("enabled")),
    Fault("deploy-peak-over-database-limit", f"{aws_names.BACKEND_SERVICE} maximumPercent raised to {FAST_DEPLOY_PERCENT}"
          " (\"faster deploys\"): a deploy may run ten times the desired tasks, whose pools open more connections"
          " than PostgreSQL accepts",
          "preflight test_database_accepts_every_connection_the_services_may_open_at_a_deploy_s_peak",
          _max_percent(FAST_DEPLOY_PERCENT), _deployment_configuration_back),
    Fault("target-deregistered", f"one backend task deregistered from target group {aws_names.TARGET_GROUP_NAME}",
          "infra test_every_task_of_the_service_is_a_healthy_target[backend]",
          _deregister_target("backend"), _register_targets("backend")),
    Fault("epr-target-deregistered", f"the EPR task deregistered from target group {aws_names.EPR_TARGET_GROUP_NAME}: its"
          " load balancer has no target to send /healthz to", "infra test_every_task_of_the_service_is_a_healthy_target[epr]",
          _deregister_target("epr"), _register_targets("epr")),
    Fault("health-check-path-wrong", f"target group health check path set to {WRONG_HEALTH_CHECK_PATH} (answers 200 whatever the dependencies)",
          "infra test_target_group_health_check_is_the_services_health_route[backend]",
          _health_check_path(WRONG_HEALTH_CHECK_PATH), _health_check_path(aws_names.HEALTH_CHECK_PATH)),
    Fault("log-group-retention-wrong", f"log group {aws_names.BACKEND_LOG_GROUP} retention set to {WRONG_RETENTION_DAYS} days",
          f"infra test_log_group_exists_with_the_retention_policy[{aws_names.BACKEND_LOG_GROUP}]",
          _retention(WRONG_RETENTION_DAYS), _retention(aws_names.LOG_RETENTION_DAYS)),
    Fault("backend-autoscaling-removed", f"the backend service's scalable target (and so its scaling policies) deleted"
          f" from Application Auto Scaling: {aws_names.BACKEND_SERVICE} keeps its desired count through any spike",
          "infra test_backend_service_scales_with_traffic_as_its_manifest_says",
          _remove_backend_scaling, _restore_backend_scaling),
    Fault("exec-log-group-missing", f"log group {EXEC_LOG_GROUP}, where the GPU cluster's ECS Exec sessions log, deleted",
          f"infra test_ecs_exec_log_group_exists[{EXEC_LOG_GROUP}]", _delete_exec_log_group, _create_exec_log_group),
    Fault("startup-lines-missing", "one backend task's log stream deleted (later lines go to a new stream)",
          "infra test_every_task_of_this_deployment_logged_its_startup_line[backend]",
          _delete_startup_stream, _replace_task),
    Fault("alarm-missing", f"CloudWatch alarm {WATCHED_ALARM} deleted",
          f"infra test_alarm_exists_as_the_manifest_defines_it[{WATCHED_ALARM}]", _delete_alarm, _put_manifest_alarm),
    Fault("alarm-wrong-threshold", f"CloudWatch alarm {WATCHED_ALARM} threshold set to 10x the manifest's",
          f"infra test_alarm_exists_as_the_manifest_defines_it[{WATCHED_ALARM}]", _raise_threshold, _put_manifest_alarm),
    Fault("pager-unsubscribed", f"every subscription of SNS topic {PAGER_TOPIC} removed (as when the PagerDuty"
          " integration is deleted): the ALB 5xx alarm pages no one",
          f"infra test_alarm_topic_has_a_confirmed_subscriber[{PAGER_TOPIC}]", _unsubscribe_pager, _resubscribe_pager),
    Fault("dashboard-missing", "the FiLot CloudWatch dashboard deleted",
          "infra test_dashboard_exists_with_the_manifests_widgets", _delete_dashboard, _put_dashboard),
    Fault("dashboard-widget-wrong-metric", f"the dashboard's '{QUEUE_WIDGET}' widget edited to show {RENAMED_QUEUE_LENGTH}:"
          " an empty graph where the queue length should be", "infra test_dashboard_exists_with_the_manifests_widgets",
          _dashboard_on_renamed_queue_metric, _put_dashboard),
]
