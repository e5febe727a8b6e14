"""Seed the sandbox's emulated AWS (moto) from FiLot's manifests, the way an operator would build AWS.

Everything is created through boto3 from the files under ``infra/``, ``alerts/``,
``production_secrets_required.json`` and ``image-versions.json`` (rendered by
:mod:`filot_gate.manifests`), so the sandbox's AWS is the expected state and never a hand-kept copy.
Only the network (VPC, two subnets, a security group) is the sandbox's own: production brings its own.

moto must answer for ``account_id``: start it with ``MOTO_ACCOUNT_ID`` set to it, and with
``MOTO_IAM_LOAD_MANAGED_POLICIES=true`` so the roles' AWS managed policies can be attached. moto keeps
no GPU resources for container instances; when moto runs in this process the seed adds them to its
state (a g5.xlarge's CPU, memory and one GPU), otherwise :attr:`SeedResult.notes` says they are absent.

Seeding twice against the same moto reuses what exists (and refreshes secret values, alarms, dashboard).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

import boto3
from botocore.config import Config

from filot_contract.aws_names import GPU_ASG, GPU_CLUSTER, LOG_RETENTION_DAYS, SERVICES
from filot_gate.manifests import (
    ALB_FILES,
    NOTIFICATIONS_FILE,
    ManifestParams,
    exec_log_groups,
    load_alarms,
    load_alb,
    load_auto_scaling_group,
    load_backend_scaling,
    load_clusters,
    load_dashboard,
    load_image_versions,
    load_launch_template,
    load_messaging,
    load_roles,
    load_secrets_manifest,
    load_security_groups,
    load_service,
    load_task_definition,
    read_json,
)
from sandbox.images import ENV_ANNOTATION

_SANDBOX_TAG = {"Key": "filot-sandbox", "Value": "true"}
_MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
#: What ECS registers for a g5.xlarge (4 vCPU, 16 GiB less the agent's reserve, one NVIDIA A10G).
_G5_XLARGE_RESOURCES = {"CPU": 4096, "MEMORY": 15563}


@dataclass
class SeedResult:
    """Everything the seed created, by the names and ARNs the sandbox needs to drive it."""

    endpoint_url: str
    region: str
    account_id: str
    #: Parameters of the live state (current images, secret ARNs, network, ALB) for later deploys.
    params: ManifestParams
    vpc_id: str = ""
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    #: the backend's ALB and target group (EPR's are in ``params``, by name)
    load_balancer_arn: str = ""
    target_group_arn: str = ""
    repositories: dict[str, str] = field(default_factory=dict)
    #: repository -> {"previous": digest, "current": digest}, as ECR holds them.
    image_digests: dict[str, dict[str, str]] = field(default_factory=dict)
    clusters: dict[str, str] = field(default_factory=dict)
    #: service key -> [previous revision ARN, current revision ARN].
    task_definitions: dict[str, list[str]] = field(default_factory=dict)
    services: dict[str, str] = field(default_factory=dict)
    gpu_instance_id: str = ""
    container_instance_arn: str = ""
    launch_template_id: str = ""
    roles: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    log_groups: list[str] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)
    dashboard: str = ""
    topics: list[str] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)
    bucket: str = ""
    notes: list[str] = field(default_factory=list)


class SeedError(RuntimeError):
    """The emulated AWS could not be seeded as the manifests say."""


def seed(
    endpoint_url: str,
    region: str,
    account_id: str,
    secret_values: Mapping[str, str | Mapping[str, str]],
    task_env: Mapping[str, Mapping[str, str]],
    features: frozenset[str] = frozenset(),
) -> SeedResult:
    """Create FiLot's AWS resources in moto at ``endpoint_url``.

    ``secret_values``: secret id (``filot/production/...``) -> value (a str for string secrets, a
    mapping of key -> str for JSON secrets); every required secret of the manifest, valid by its rules.
    ``task_env``: service key ("backend", "ocr-gpu", "epr") -> environment variables added to (or replacing
    those of) its container in every revision the seed registers. ``features``: the optional integrations
    (``filot_gate.manifests.FEATURE_FILES``) every revision is registered with.
    """
    aws = _Clients(endpoint_url, region)
    _check_account(aws.client("sts"), account_id, endpoint_url)
    unknown = set(task_env) - set(SERVICES)
    if unknown:
        raise SeedError(f"task_env has unknown services {sorted(unknown)}; known: {', '.join(SERVICES)}")
    params = ManifestParams.from_image_versions(account_id, region, "current",
                                                env_overrides={k: dict(v) for k, v in task_env.items()}, features=features)
    result = SeedResult(endpoint_url, region, account_id, params)
    _network(aws, result)
    _security_groups(aws, result)
    _roles(aws, result)
    _images(aws, result)
    _secrets(aws, result, secret_values)
    _log_groups(aws, result)
    _load_balancers(aws, result)
    _clusters(aws, result)
    _gpu_capacity(aws, result)
    _messaging(aws, result)
    _task_definitions_and_services(aws, result)
    backend_scaling(aws.client("application-autoscaling"), params)
    _alarms_and_dashboard(aws, result)
    return result


class _Clients:
    """boto3 clients for one moto endpoint, made once each."""

    def __init__(self, endpoint_url: str, region: str) -> None:
        self._session = boto3.session.Session(region_name=region)
        self._endpoint_url = endpoint_url
        self._config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)
        self._clients: dict[str, Any] = {}

    def client(self, name: str) -> Any:
        if name not in self._clients:
            self._clients[name] = self._session.client(name, endpoint_url=self._endpoint_url, config=self._config)
        return self._clients[name]


def _check_account(sts: Any, account_id: str, endpoint_url: str) -> None:
    answered = sts.get_caller_identity()["Account"]
    if answered != account_id:
        raise SeedError(f"moto at {endpoint_url} answers for account {answered}, expected {account_id}; "
                        f"start it with MOTO_ACCOUNT_ID={account_id}")


def _network(aws: _Clients, result: SeedResult) -> None:
    """The sandbox's VPC, a subnet in each of two AZs and one security group (production has its own)."""
    ec2 = aws.client("ec2")
    tag_filter = [{"Name": f"tag:{_SANDBOX_TAG['Key']}", "Values": [_SANDBOX_TAG["Value"]]}]
    vpcs = ec2.describe_vpcs(Filters=tag_filter)["Vpcs"]
    vpc_id = vpcs[0]["VpcId"] if vpcs else ec2.create_vpc(
        CidrBlock="10.42.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": [_SANDBOX_TAG]}])["Vpc"]["VpcId"]
    subnets = ec2.describe_subnets(Filters=tag_filter + [{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    if not subnets:
        subnets = [ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=f"{result.region}{az}",
                                     TagSpecifications=[{"ResourceType": "subnet", "Tags": [_SANDBOX_TAG]}])["Subnet"]
                   for i, az in ((1, "a"), (2, "b"))]
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["filot-sandbox"]},
                                                   {"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    group_id = groups[0]["GroupId"] if groups else ec2.create_security_group(
        GroupName="filot-sandbox", Description="FiLot sandbox tasks and ALB", VpcId=vpc_id)["GroupId"]
    result.vpc_id = vpc_id
    result.subnets = tuple(sorted(s["SubnetId"] for s in subnets))
    result.security_groups = (group_id,)
    result.params = replace(result.params, vpc_id=vpc_id, subnets=result.subnets, security_groups=result.security_groups)


def _security_groups(aws: _Clients, result: SeedResult) -> None:
    """EPR's security groups with exactly the manifest's rules (the allow-all egress that AWS gives a new
    group is revoked, as the manifest lists every outbound port)."""
    ec2 = aws.client("ec2")
    ids = {}
    for spec in load_security_groups("group", result.params):
        name = spec["group"]["GroupName"]
        found = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]},
                                                      {"Name": "vpc-id", "Values": [result.vpc_id]}])["SecurityGroups"]
        ids[name] = found[0]["GroupId"] if found else ec2.create_security_group(**spec["group"])["GroupId"]
    result.params = replace(result.params, security_group_ids=ids)
    for spec in load_security_groups("rules", result.params):
        group_id = ids[spec["group"]["GroupName"]]
        live = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
        if live["IpPermissions"]:
            ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=live["IpPermissions"])
        if live["IpPermissionsEgress"]:
            ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=live["IpPermissionsEgress"])
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=spec["ingress"])
        ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=spec["egress"])


def _roles(aws: _Clients, result: SeedResult) -> None:
    iam = aws.client("iam")
    for role in load_roles(result.params):
        name = role.create_role["RoleName"]
        try:
            result.roles[name] = iam.get_role(RoleName=name)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            result.roles[name] = iam.create_role(**role.create_role)["Role"]["Arn"]
        for policy_arn in role.managed_policy_arns:
            try:
                iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
            except iam.exceptions.NoSuchEntityException:
                result.notes.append(f"IAM: {policy_arn} not attached to {name}: moto was started without "
                                    f"MOTO_IAM_LOAD_MANAGED_POLICIES=true")
        for policy_name, document in role.inline_policies.items():
            iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=document)
        if role.instance_profile:
            _instance_profile(iam, role.instance_profile, name)


def _instance_profile(iam: Any, profile: str, role_name: str) -> None:
    try:
        roles = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]
    except iam.exceptions.NoSuchEntityException:
        iam.create_instance_profile(InstanceProfileName=profile)
        roles = []
    if role_name not in {r["RoleName"] for r in roles}:
        iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role_name)


def image_manifest(repository: str, tag: str, env: Mapping[str, str] | None = None) -> str:
    """A small, deterministic OCI image manifest standing in for the pushed image ``repository:tag``, with
    the ENV ``env`` baked in (``sandbox.images.ENV_ANNOTATION``)."""
    config = "sha256:" + hashlib.sha256(f"{repository}:{tag}:config".encode()).hexdigest()
    layer = "sha256:" + hashlib.sha256(f"{repository}:{tag}:layer".encode()).hexdigest()
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": _MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 1024, "digest": config},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": 4096, "digest": layer}],
        **({"annotations": {ENV_ANNOTATION: json.dumps(dict(env), sort_keys=True)}} if env else {}),
    }, sort_keys=True)


def _images(aws: _Clients, result: SeedResult) -> None:
    """ECR repositories with the previous and the current image, pushed in that order, digests as recorded."""
    ecr = aws.client("ecr")
    for repository, versions in load_image_versions().items():
        try:
            repo = ecr.create_repository(repositoryName=repository, imageScanningConfiguration={"scanOnPush": True})
        except ecr.exceptions.RepositoryAlreadyExistsException:
            repo = ecr.describe_repositories(repositoryNames=[repository])["repositories"]
        else:
            repo = [repo["repository"]]
        result.repositories[repository] = repo[0]["repositoryUri"]
        digests = {}
        for choice, image in (("previous", versions.previous), ("current", versions.current)):
            if image is None:
                continue
            try:
                pushed = ecr.put_image(repositoryName=repository, imageTag=image.tag, imageDigest=image.digest,
                                       imageManifest=image_manifest(repository, image.tag),
                                       imageManifestMediaType=_MANIFEST_MEDIA_TYPE)["image"]["imageId"]["imageDigest"]
            except ecr.exceptions.ImageAlreadyExistsException:
                pushed = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": image.tag}])[
                    "imageDetails"][0]["imageDigest"]
            if pushed != image.digest:
                raise SeedError(f"ECR stored {repository}:{image.tag} as {pushed}, image-versions.json says {image.digest}")
            digests[choice] = pushed
        result.image_digests[repository] = digests


def _secrets(aws: _Clients, result: SeedResult, values: Mapping[str, str | Mapping[str, str]]) -> None:
    """Secrets Manager entries from ``values``, checked against the secrets manifest first."""
    manifest = load_secrets_manifest()
    known = {s.id for s in manifest.secrets}
    unknown = set(values) - known
    if unknown:
        raise SeedError(f"secret_values has secrets the manifest does not know: {sorted(unknown)}")
    missing = [s.id for s in manifest.secrets if s.required and s.id not in values]
    if missing:
        raise SeedError(f"secret_values lacks required secrets: {missing}")
    problems = []
    for secret_id, value in values.items():
        spec = manifest.get(secret_id)
        try:
            encoded = spec.encode(value)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        problems += [f"{secret_id}: {p}" for p in manifest.check(spec, spec.decode(encoded))]
    if problems:
        raise SeedError("secret_values break the secrets manifest's rules: " + "; ".join(problems))
    sm = aws.client("secretsmanager")
    for secret_id, value in values.items():
        secret_string = manifest.get(secret_id).encode(value)
        try:
            arn = sm.create_secret(Name=secret_id, SecretString=secret_string, Tags=[_SANDBOX_TAG])["ARN"]
        except sm.exceptions.ResourceExistsException:
            arn = sm.put_secret_value(SecretId=secret_id, SecretString=secret_string)["ARN"]
        result.secrets[secret_id] = arn
    result.params = replace(result.params, secret_arns=dict(result.secrets))
    result.bucket = _document_bucket(aws, result, values)


def _document_bucket(aws: _Clients, result: SeedResult, values: Mapping[str, Any]) -> str:
    """The documents bucket, named by ``CF_R2_BUCKET_NAME`` (R2 in production, moto S3 locally)."""
    bucket = values["filot/production/cf-r2"]["CF_R2_BUCKET_NAME"]
    s3 = aws.client("s3")
    try:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": result.region})
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    return bucket


def _log_groups(aws: _Clients, result: SeedResult) -> None:
    """The log groups the task definitions' awslogs options and the clusters' exec logging name."""
    groups = set()
    for key in SERVICES:
        for container in load_task_definition(key, result.params)["containerDefinitions"]:
            groups.add(container["logConfiguration"]["options"]["awslogs-group"])
    groups.update(exec_log_groups(load_clusters(result.params)))
    logs = aws.client("logs")
    for group in sorted(groups):
        ensure_log_group(logs, group)
    result.log_groups = sorted(groups)


def ensure_log_group(logs: Any, group: str) -> None:
    """The log group, tagged, with FiLot's retention (an existing one keeps its streams)."""
    try:
        logs.create_log_group(logGroupName=group, tags={"Project": "filot"})
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.put_retention_policy(logGroupName=group, retentionInDays=LOG_RETENTION_DAYS)


def _load_balancers(aws: _Clients, result: SeedResult) -> None:
    """Each service's load balancer, its target group (health check on the service's health route) and listener."""
    elb = aws.client("elbv2")
    for service in ALB_FILES:
        spec = load_alb("loadBalancer", result.params, service)
        lb = _described_or_created(lambda: elb.describe_load_balancers(Names=[spec["Name"]])["LoadBalancers"][0],
                                   lambda: elb.create_load_balancer(**spec)["LoadBalancers"][0],
                                   elb.exceptions.LoadBalancerNotFoundException)
        result.params = replace(result.params, load_balancers={**result.params.load_balancers, spec["Name"]: lb["LoadBalancerArn"]})
        spec = load_alb("targetGroup", result.params, service)
        tg = _described_or_created(lambda: elb.describe_target_groups(Names=[spec["Name"]])["TargetGroups"][0],
                                   lambda: elb.create_target_group(**spec)["TargetGroups"][0],
                                   elb.exceptions.TargetGroupNotFoundException)
        result.params = replace(result.params, target_groups={**result.params.target_groups, spec["Name"]: tg["TargetGroupArn"]})
        if service == "backend":
            result.load_balancer_arn, result.target_group_arn = lb["LoadBalancerArn"], tg["TargetGroupArn"]
            result.params = replace(result.params, load_balancer_arn=result.load_balancer_arn,
                                    target_group_arn=result.target_group_arn)
        if not elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
            elb.create_listener(**load_alb("listener", result.params, service))


def _described_or_created(describe: Callable[[], Any], create: Callable[[], Any], missing: type[Exception]) -> Any:
    """The resource as it is, or created when ``describe`` says it is ``missing``."""
    try:
        return describe()
    except missing:
        return create()


def _clusters(aws: _Clients, result: SeedResult) -> None:
    ecs = aws.client("ecs")
    for spec in load_clusters(result.params):
        name = spec["clusterName"]
        found = [c for c in ecs.describe_clusters(clusters=[name])["clusters"] if c["status"] == "ACTIVE"]
        result.clusters[name] = found[0]["clusterArn"] if found else ecs.create_cluster(**spec)["cluster"]["clusterArn"]


def _gpu_capacity(aws: _Clients, result: SeedResult) -> None:
    """Launch template, ASG (one g5.xlarge InService) and that instance as the GPU cluster's container instance."""
    ec2, autoscaling, ecs = aws.client("ec2"), aws.client("autoscaling"), aws.client("ecs")
    spec = load_launch_template(result.params)
    existing = ec2.describe_launch_templates(Filters=[{"Name": "launch-template-name", "Values": [spec["LaunchTemplateName"]]}])
    templates = existing["LaunchTemplates"] or [ec2.create_launch_template(**spec)["LaunchTemplate"]]
    result.launch_template_id = templates[0]["LaunchTemplateId"]
    if not autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GPU_ASG])["AutoScalingGroups"]:
        autoscaling.create_auto_scaling_group(**load_auto_scaling_group(result.params))
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GPU_ASG])["AutoScalingGroups"][0]
    in_service = [i for i in group["Instances"] if i["LifecycleState"] == "InService"]
    if not in_service:
        raise SeedError(f"ASG {GPU_ASG} has no InService instance after creation: {group['Instances']}")
    instance = in_service[0]
    result.gpu_instance_id = instance["InstanceId"]
    registered = ecs.list_container_instances(cluster=GPU_CLUSTER)["containerInstanceArns"]
    described = ecs.describe_container_instances(cluster=GPU_CLUSTER, containerInstances=registered)["containerInstances"] if registered else []
    mine = [c for c in described if c["ec2InstanceId"] == instance["InstanceId"]]
    if mine:
        result.container_instance_arn = mine[0]["containerInstanceArn"]
    else:
        identity = {"instanceId": instance["InstanceId"], "instanceType": instance["InstanceType"],
                    "availabilityZone": instance["AvailabilityZone"], "region": result.region, "accountId": result.account_id}
        result.container_instance_arn = ecs.register_container_instance(
            cluster=GPU_CLUSTER, instanceIdentityDocument=json.dumps(identity),
            totalResources=_g5_resources(instance["InstanceId"]))["containerInstance"]["containerInstanceArn"]
    _ensure_gpu_resources(result)


def _g5_resources(instance_id: str) -> list[dict[str, Any]]:
    gpu_id = "GPU-" + hashlib.sha256(instance_id.encode()).hexdigest()[:32]
    resources = [{"name": name, "type": "INTEGER", "integerValue": value} for name, value in _G5_XLARGE_RESOURCES.items()]
    return resources + [{"name": "GPU", "type": "STRINGSET", "stringSetValue": [gpu_id]}]


def _ensure_gpu_resources(result: SeedResult) -> None:
    """moto ignores ``totalResources``; when it runs in this process, give the instance its GPU directly."""
    from moto.backends import get_backend

    instances = get_backend("ecs")[result.account_id][result.region].container_instances.get(GPU_CLUSTER, {})
    instance = instances.get(result.container_instance_arn.rsplit("/", 1)[-1])
    if instance is None:
        result.notes.append("ECS: moto runs in another process, so the GPU container instance reports no GPU resource")
        return
    resources = _g5_resources(result.gpu_instance_id)
    kept = [r for r in instance.registered_resources if r["name"] not in {"CPU", "MEMORY", "GPU"}]
    instance.registered_resources = resources + kept
    instance.remaining_resources = [dict(r) for r in resources] + [dict(r) for r in kept]


def _messaging(aws: _Clients, result: SeedResult) -> None:
    """EPR's SNS topics, its audit queue, and the subscription that feeds the queue from the audit topic."""
    sns, sqs = aws.client("sns"), aws.client("sqs")
    spec = load_messaging(result.params)
    result.topics += [sns.create_topic(**topic)["TopicArn"] for topic in spec["topics"]]
    for queue in spec["queues"]:  # created by name, then given the manifest's attributes: a re-seed converges
        url = sqs.create_queue(QueueName=queue["QueueName"], tags=queue.get("tags", {}))["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes=queue["Attributes"])
        result.queues.append(url)
    for subscription in spec["subscriptions"]:
        live = sns.list_subscriptions_by_topic(TopicArn=subscription["TopicArn"])["Subscriptions"]
        if not any(s["Protocol"] == subscription["Protocol"] and s["Endpoint"] == subscription["Endpoint"] for s in live):
            sns.subscribe(**subscription, ReturnSubscriptionArn=True)


def _task_definitions_and_services(aws: _Clients, result: SeedResult) -> None:
    """Two revisions per family (previous image, then current) and each service on the current one."""
    ecs = aws.client("ecs")
    versions = load_image_versions()
    for key, (cluster, service, family, _) in SERVICES.items():
        arns = []
        for choice in ("previous", "current"):
            images = {repo: v.pick(choice) for repo, v in versions.items()}
            taskdef = load_task_definition(key, replace(result.params, images=images))
            arns.append(_registered(ecs, taskdef))
        result.task_definitions[key] = arns
        result.services[key] = _service(ecs, key, cluster, service, arns[-1], result)


def _registered(ecs: Any, taskdef: dict[str, Any]) -> str:
    """The ARN of an ACTIVE revision with exactly this content, registering one if there is none."""
    arns = ecs.list_task_definitions(familyPrefix=taskdef["family"], status="ACTIVE", sort="DESC")["taskDefinitionArns"]
    for arn in arns:
        live = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        if _same_containers(live["containerDefinitions"], taskdef["containerDefinitions"]):
            return arn
    return ecs.register_task_definition(**taskdef)["taskDefinition"]["taskDefinitionArn"]


def _same_containers(live: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> bool:
    def key(c: Mapping[str, Any]) -> tuple[Any, ...]:
        env = sorted((e["name"], e["value"]) for e in c.get("environment", []))
        secrets = sorted((s["name"], s["valueFrom"]) for s in c.get("secrets", []))
        return c["name"], c["image"], tuple(env), tuple(secrets)

    return sorted(map(key, live)) == sorted(map(key, wanted))


#: create-service fields moto drops; an update-service with the same values makes them stick.
_UPDATABLE = ("deploymentConfiguration", "placementConstraints", "placementStrategy", "healthCheckGracePeriodSeconds",
              "enableExecuteCommand")


def _service(ecs: Any, key: str, cluster: str, service: str, task_definition: str, result: SeedResult) -> str:
    spec = load_service(key, result.params, task_definition=task_definition)
    live = [s for s in ecs.describe_services(cluster=cluster, services=[service])["services"] if s["status"] == "ACTIVE"]
    arn = live[0]["serviceArn"] if live else ecs.create_service(**spec)["service"]["serviceArn"]
    updates = {name: spec[name] for name in _UPDATABLE if name in spec}
    ecs.update_service(cluster=cluster, service=service, **updates)
    return arn


def backend_scaling(autoscaling: Any, params: ManifestParams) -> None:
    """The backend service's scalable target and scaling policies, as their manifest says (both calls are
    idempotent: they create or update)."""
    spec = load_backend_scaling(params)
    autoscaling.register_scalable_target(**spec["ScalableTarget"])
    for policy in spec["ScalingPolicies"]:
        autoscaling.put_scaling_policy(**policy)


#: Who the sandbox's alarm topics notify, by protocol: addresses that reach no one. Nothing is sent: moto
#: delivers only on Publish, which nothing in the sandbox calls on these topics.
ALARM_SUBSCRIBERS = {"email": "oncall@filot.invalid", "sms": "+6281100000000"}


def _alarms_and_dashboard(aws: _Clients, result: SeedResult) -> None:
    """The SNS topics the alarms notify with their subscribers, the alarms of seeds 000/002, and the dashboard."""
    sns, cloudwatch = aws.client("sns"), aws.client("cloudwatch")
    alarms = load_alarms(result.params)
    topics = sorted({arn for alarm in alarms for arn in alarm.get("AlarmActions", []) + alarm.get("OKActions", [])
                     if arn.startswith("arn:aws:sns:")})
    result.topics += [sns.create_topic(Name=arn.rsplit(":", 1)[1])["TopicArn"] for arn in topics]
    for topic in read_json(NOTIFICATIONS_FILE):
        protocol = next(p for p in topic["Protocols"] if p in ALARM_SUBSCRIBERS)
        arn = next(a for a in result.topics if a.endswith(f":{topic['TopicName']}"))
        sns.subscribe(TopicArn=arn, Protocol=protocol, Endpoint=ALARM_SUBSCRIBERS[protocol])  # SNS keeps no duplicate
    for alarm in alarms:
        cloudwatch.put_metric_alarm(**alarm)
    result.alarms = [a["AlarmName"] for a in alarms]
    dashboard = load_dashboard(result.params)
    cloudwatch.put_dashboard(**dashboard)
    result.dashboard = dashboard["DashboardName"]
