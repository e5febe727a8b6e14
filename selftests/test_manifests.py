"""The deployment manifests: valid AWS inputs by botocore's own service model, and the seeds' values.

Offline: nothing here talks to AWS. The seed values asserted below are quoted from the seeds (the
oracle); names and keys come from ``filot_contract`` so that a manifest and the code never drift.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Callable

import pytest
from moto.iam.aws_managed_policies import aws_managed_policies_data

from filot_contract import aws_names, documents, metrics, redis_keys, temporal
from filot_gate import execution_role, taskdef_rules
from filot_gate.iam_policy import refused, role_name
from filot_gate.manifests import (
    ALB_FILES,
    NOTIFICATIONS_FILE,
    REPO_ROOT,
    ManifestError,
    ManifestParams,
    load_alarms,
    load_alb,
    load_auto_scaling_group,
    load_backend_scaling,
    load_clusters,
    load_dashboard,
    load_image_versions,
    load_launch_template,
    load_log_queries,
    load_roles,
    load_secrets_manifest,
    load_service,
    load_task_definition,
    read_json,
    validate_input,
)

ACCOUNT = "070017891928"
REGION = "ap-southeast-2"
ALB_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/filot-backend-alb/50dc6c495c0c9188"
TG_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/filot-backend-tg/73e2d6bc24d8a067"
EPR_ALB_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/omen-epr-alb/2b1e0c7d9a8f6e54"
EPR_TG_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/omen-epr-tg/1f0e9d8c7b6a5948"


@pytest.fixture(scope="module")
def params() -> ManifestParams:
    """Every parameter given, as the deploy step resolves them on AWS (secret ARNs with their suffix)."""
    secrets = load_secrets_manifest().secrets
    return ManifestParams.from_image_versions(
        ACCOUNT, REGION,
        secret_arns={s.id: f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{s.id}-AbC123" for s in secrets},
        subnets=("subnet-0a1b2c3d4e5f60718", "subnet-0f1e2d3c4b5a69788"), security_groups=("sg-0123456789abcdef0",),
        vpc_id="vpc-0123456789abcdef0", load_balancer_arn=ALB_ARN, target_group_arn=TG_ARN,
        security_group_ids={"omen-epr-lb": "sg-0e1d2c3b4a5968778", "omen-epr-tasks": "sg-0a9b8c7d6e5f40312"},
        load_balancers={aws_names.EPR_ALB_NAME: EPR_ALB_ARN}, target_groups={aws_names.EPR_TARGET_GROUP_NAME: EPR_TG_ARN},
    )


def container(taskdef: dict) -> dict:
    """The task's essential container (EPR's task also runs its audit worker)."""
    essential = [c for c in taskdef["containerDefinitions"] if c.get("essential", True)]
    (main,) = essential
    return main


def env_of(taskdef: dict) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(taskdef).get("environment", [])}


def rendered_inputs(params: ManifestParams) -> list[tuple[str, str, str, dict]]:
    """(label, service, operation, input) for every AWS call the manifests stand for."""
    inputs = []
    for key in aws_names.SERVICES:
        inputs.append((f"task:{key}", "ecs", "RegisterTaskDefinition", load_task_definition(key, params)))
        inputs.append((f"service:{key}", "ecs", "CreateService", load_service(key, params)))
    inputs += [(f"cluster:{c['clusterName']}", "ecs", "CreateCluster", c) for c in load_clusters(params)]
    inputs += [(f"alarm:{a['AlarmName']}", "cloudwatch", "PutMetricAlarm", a) for a in load_alarms(params)]
    inputs.append(("dashboard", "cloudwatch", "PutDashboard", load_dashboard(params)))
    for role in load_roles(params):
        name = role.create_role["RoleName"]
        inputs.append((f"role:{name}", "iam", "CreateRole", role.create_role))
        inputs += [(f"policy:{name}/{p}", "iam", "PutRolePolicy", {"RoleName": name, "PolicyName": p, "PolicyDocument": d})
                   for p, d in role.inline_policies.items()]
    for service in ALB_FILES:
        for part, operation in (("loadBalancer", "CreateLoadBalancer"), ("targetGroup", "CreateTargetGroup"),
                                ("listener", "CreateListener")):
            inputs.append((f"alb:{service}:{part}", "elbv2", operation, load_alb(part, params, service)))
    inputs.append(("launch-template", "ec2", "CreateLaunchTemplate", load_launch_template(params)))
    inputs.append(("asg", "autoscaling", "CreateAutoScalingGroup", load_auto_scaling_group(params)))
    scaling = load_backend_scaling(params)
    inputs.append(("backend-scaling", "application-autoscaling", "RegisterScalableTarget", scaling["ScalableTarget"]))
    inputs += [(f"backend-scaling:{p['PolicyName']}", "application-autoscaling", "PutScalingPolicy", p)
               for p in scaling["ScalingPolicies"]]
    return inputs


def test_every_manifest_is_a_valid_aws_input(params: ManifestParams) -> None:
    inputs = rendered_inputs(params)
    errors = []
    for label, service, operation, document in inputs:
        try:
            validate_input(service, operation, document, label)
        except ManifestError as exc:
            errors.append(str(exc))
        assert "${" not in repr(document), f"{label}: unrendered placeholder left in {document!r}"
    assert not errors, "\n".join(errors)
    assert len(inputs) >= 24, f"expected every manifest to be checked, got {len(inputs)} inputs"


def test_a_typo_fails_validation(params: ManifestParams) -> None:
    taskdef = load_task_definition("backend", params)
    container(taskdef)["healthcheck"] = container(taskdef).pop("healthCheck")
    with pytest.raises(ManifestError, match="healthcheck"):
        validate_input("ecs", "RegisterTaskDefinition", taskdef, "typo")


def test_missing_parameter_names_file_and_field() -> None:
    bare = ManifestParams.from_image_versions(ACCOUNT, REGION)
    with pytest.raises(ManifestError, match=r"filot-backend-service.json: placeholder \$\{TARGET_GROUP_ARN\}"):
        load_service("backend", bare)
    with pytest.raises(ManifestError, match=r"\$\{SECRET:filot/production/jwt-secret\}.*secret_arns"):
        load_task_definition("backend", bare)


def test_backend_task_definition_is_seed_000(params: ManifestParams) -> None:
    taskdef = load_task_definition("backend", params)
    c = container(taskdef)
    assert (taskdef["family"], c["name"]) == (aws_names.BACKEND_FAMILY, aws_names.BACKEND_CONTAINER)
    assert (taskdef["cpu"], taskdef["memory"], taskdef["networkMode"]) == ("512", "2048", "awsvpc")
    assert taskdef["requiresCompatibilities"] == ["FARGATE"]
    assert c["portMappings"][0]["containerPort"] == 8080
    env = env_of(taskdef)
    assert env["NODE_ENV"] == "production" and env["PORT"] == "8080"
    assert int(env["AI_SCORE_THRESHOLD_AUTO_APPROVE"]) == documents.AUTO_APPROVE_THRESHOLD
    assert int(env["AI_SCORE_THRESHOLD_AUTO_REJECT"]) == documents.AUTO_REJECT_THRESHOLD
    assert env["OCR_GPU_QUEUE_KEY"] == redis_keys.OCR_QUEUE
    assert env["OCR_GPU_PUBLISH_CHANNEL"] == redis_keys.OCR_RESULTS_CHANNEL
    current = load_image_versions()[aws_names.BACKEND_REPOSITORY].current
    assert c["image"] == f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/filot-backend@{current.digest}"


def test_the_temporal_feature_adds_its_switch_and_secrets_to_the_backend_only(params: ManifestParams) -> None:
    with_temporal = replace(params, features=frozenset({"temporal"}))
    backend = load_task_definition("backend", with_temporal)
    assert env_of(load_task_definition("backend", params))[temporal.SWITCH] == "true"
    assert env_of(backend)[temporal.SWITCH] == "false"
    added = {e["name"]: e["valueFrom"] for e in container(backend)["secrets"] if e["name"].startswith("TEMPORAL_")}
    arn = params.secret_arns[f"{aws_names.SECRETS_PREFIX}/{temporal.SECRET_NAME}"]
    assert added == {k: f"{arn}:{k}::" for k in (temporal.ENDPOINT_KEY, temporal.NAMESPACE_KEY, temporal.API_KEY_KEY)}
    assert load_task_definition("epr", with_temporal) == load_task_definition("epr", params)
    validate_input("ecs", "RegisterTaskDefinition", backend, "backend --with temporal")
    with pytest.raises(ManifestError, match="unknown feature 'kafka'; known: temporal"):
        load_task_definition("backend", replace(params, features=frozenset({"kafka"})))


def test_gpu_task_definition_is_seed_001(params: ManifestParams) -> None:
    taskdef = load_task_definition("ocr-gpu", params)
    c = container(taskdef)
    assert (taskdef["family"], c["name"]) == (aws_names.GPU_FAMILY, aws_names.GPU_CONTAINER)
    assert taskdef["requiresCompatibilities"] == ["EC2"]
    assert (taskdef["cpu"], taskdef["memory"]) == ("2048", "8192")
    assert c["resourceRequirements"] == [{"type": "GPU", "value": "1"}]
    assert c["linuxParameters"]["sharedMemorySize"] == 2048
    assert {
        "OCR_GPU_ENABLED": "true", "OCR_GPU_CONCURRENCY": "2", "OCR_GPU_AUTOFALLBACK": "true", "OCR_GPU_MAX_RETRIES": "3",
        "OCR_GPU_POLL_INTERVAL": "1000", "OCR_GPU_QUEUE_KEY": redis_keys.OCR_QUEUE,
        "OCR_GPU_PROCESSING_KEY": redis_keys.OCR_PROCESSING, "OCR_GPU_ATTEMPTS_KEY": redis_keys.OCR_ATTEMPTS,
        "OCR_GPU_PUBLISH_CHANNEL": redis_keys.OCR_RESULTS_CHANNEL,
    }.items() <= env_of(taskdef).items()
    seed_001_secrets = {"DATABASE_URL", "REDIS_URL", "REDIS_PASSWORD", "CF_R2_ENDPOINT", "CF_R2_ACCESS_KEY_ID",
                        "CF_R2_SECRET_ACCESS_KEY", "CF_R2_BUCKET_NAME", "BULI2_API_URL", "BULI2_CALLBACK_URL"}
    assert {s["name"] for s in c["secrets"]} == seed_001_secrets


@pytest.mark.parametrize("key, group, prefix", [
    ("backend", aws_names.BACKEND_LOG_GROUP, "ecs"),
    ("ocr-gpu", aws_names.GPU_LOG_GROUP, "gpu"),
])
def test_awslogs_and_health_check(params: ManifestParams, key: str, group: str, prefix: str) -> None:
    c = container(load_task_definition(key, params))
    assert c["logConfiguration"] == {"logDriver": "awslogs", "options": {
        "awslogs-group": group, "awslogs-region": REGION, "awslogs-stream-prefix": prefix}}
    assert c["healthCheck"] == {"command": ["CMD-SHELL", "curl -f http://localhost:8080/health || exit 1"],
                                "interval": 30, "timeout": 10, "retries": 3, "startPeriod": 60}
    assert c["essential"] is True


@pytest.mark.parametrize("key", list(aws_names.SERVICES))
def test_secrets_only_through_value_from(params: ManifestParams, key: str) -> None:
    manifest = load_secrets_manifest()
    containers = load_task_definition(key, params)["containerDefinitions"]
    secret_keys = {k.name for s in manifest.secrets for k in s.keys}
    leaked = secret_keys & {e["name"] for c in containers for e in c.get("environment", [])}
    assert not leaked, f"{key}: secret variables in plain environment: {sorted(leaked)}"
    referenced = set()
    for entry in (e for c in containers for e in c.get("secrets", [])):
        assert set(entry) == {"name", "valueFrom"}, f"{key}: {entry['name']} is not a valueFrom reference"
        spec, secret_key = manifest.resolve_ref(entry["valueFrom"])
        assert secret_key == entry["name"], f"{key}: {entry['name']} reads key {secret_key} of {spec.id}"
        assert entry["valueFrom"].startswith(params.secret_arns[spec.id]), "full ARN, not a partial one"
        referenced.add((spec.id, secret_key))
    if key == "backend":
        wanted = {(s.id, k.name) for s in manifest.used_by("backend") if s.required for k in s.keys if k.required}
        assert wanted <= referenced, f"backend lacks secrets {sorted(wanted - referenced)}"


def test_a_value_from_naming_a_key_the_secret_lacks_is_a_problem_naming_the_keys(params: ManifestParams) -> None:
    manifest = load_secrets_manifest()
    spec = next(s for s in manifest.secrets if s.format == "json")
    value_from = f"{params.secret_arns[spec.id]}:NO_SUCH_KEY::"
    with pytest.raises(ValueError) as refused_ref:
        manifest.resolve_ref(value_from)
    expected = f"names key NO_SUCH_KEY that secret {spec.id} does not have (expected one of {spec.keys[0].name}"
    assert expected in str(refused_ref.value), f"resolve_ref({value_from!r}): expected {expected!r}, got {refused_ref.value!r}"


@pytest.mark.parametrize("key", list(aws_names.SERVICES))
def test_service_manifest(params: ManifestParams, key: str) -> None:
    cluster, service_name, family, container_name = aws_names.SERVICES[key]
    service = load_service(key, params)
    assert (service["cluster"], service["serviceName"], service["taskDefinition"]) == (cluster, service_name, family)
    assert service["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert service["networkConfiguration"]["awsvpcConfiguration"]["subnets"] == list(params.subnets)
    assert service["healthCheckGracePeriodSeconds"] == 120
    if key == "epr":  # seed 004: Fargate, one task, behind its load balancer
        assert (service["launchType"], service["desiredCount"]) == ("FARGATE", 1)
    elif key == "backend":
        assert service["launchType"] == "FARGATE"
        assert service["loadBalancers"] == [{"targetGroupArn": TG_ARN, "containerName": container_name, "containerPort": 8080}]
    else:
        assert service["launchType"] == "EC2" and service["desiredCount"] == 1
        assert service["placementConstraints"] == [{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ g5.*"}]
        assert service["placementStrategy"] == [{"type": "spread", "field": "attribute:ecs.availability-zone"}]


def test_clusters_roles_and_gpu_capacity(params: ManifestParams) -> None:
    assert [c["clusterName"] for c in load_clusters(params)] == [aws_names.BACKEND_CLUSTER, aws_names.GPU_CLUSTER,
                                                                 aws_names.EPR_CLUSTER]
    assert sorted(r.create_role["RoleName"] for r in load_roles(params)) == sorted(aws_names.IAM_ROLES)
    template = load_launch_template(params)
    assert template["LaunchTemplateName"] == aws_names.GPU_LAUNCH_TEMPLATE
    assert template["LaunchTemplateData"]["InstanceType"] == "g5.xlarge"
    assert template["LaunchTemplateData"]["IamInstanceProfile"] == {"Name": "ecsInstanceRole"}
    user_data = base64.b64decode(template["LaunchTemplateData"]["UserData"]).decode()
    assert f"ECS_CLUSTER={aws_names.GPU_CLUSTER}" in user_data and "ECS_ENABLE_GPU_SUPPORT=true" in user_data
    asg = load_auto_scaling_group(params)
    assert asg["AutoScalingGroupName"] == aws_names.GPU_ASG
    assert asg["LaunchTemplate"]["LaunchTemplateName"] == aws_names.GPU_LAUNCH_TEMPLATE
    assert asg["VPCZoneIdentifier"] == ",".join(params.subnets)
    assert load_alb("loadBalancer", params)["Name"] == aws_names.ALB_NAME
    target_group = load_alb("targetGroup", params)
    assert (target_group["Name"], target_group["HealthCheckPath"], target_group["Port"]) == (aws_names.TARGET_GROUP_NAME, "/health", 8080)


def test_epr_sits_behind_its_load_balancer_health_checked_on_healthz(params: ManifestParams) -> None:
    """Seed 004 "Health Check Endpoint" ("Via load balancer"), Security 3 ("inbound 8080 only from load balancer")."""
    balancer, target_group = load_alb("loadBalancer", params, "epr"), load_alb("targetGroup", params, "epr")
    assert balancer["SecurityGroups"] == [params.security_group_ids[aws_names.EPR_LB_SECURITY_GROUP]]
    assert (target_group["Name"], target_group["HealthCheckPath"], target_group["Port"], target_group["TargetType"]) == (
        aws_names.EPR_TARGET_GROUP_NAME, aws_names.EPR_HEALTH_CHECK_PATH, aws_names.EPR_API_PORT, "ip")
    assert load_alb("listener", params, "epr")["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": EPR_TG_ARN}]
    assert load_service("epr", params)["loadBalancers"] == [
        {"targetGroupArn": EPR_TG_ARN, "containerName": aws_names.EPR_CONTAINER, "containerPort": aws_names.EPR_API_PORT}]


#: Seed 000 section 6 and seed 002 section 7: (metric, comparison, threshold) of each alarm.
SEED_ALARMS = {
    (metrics.QUEUE_LENGTH, "GreaterThanThreshold", 20),
    (metrics.QUEUE_LENGTH, "GreaterThanThreshold", 100),
    (metrics.BULI2_RETRY_QUEUE_DEPTH, "GreaterThanThreshold", 10),
    (metrics.BULI2_RETRY_QUEUE_DEPTH, "GreaterThanThreshold", 50),
    (metrics.API_LATENCY_P95_MS, "GreaterThanThreshold", 2000),
    (metrics.OCR_PROCESSING_P95_MS, "GreaterThanThreshold", 60_000),
    (metrics.OCR_WORKERS_ALIVE, "LessThanThreshold", 1),
    ("5xx-rate-percent", "GreaterThanThreshold", 2),
}


def test_every_seed_alarm_is_present_with_its_threshold(params: ManifestParams) -> None:
    alarms = load_alarms(params)
    found = set()
    for alarm in alarms:
        assert alarm["AlarmActions"], f"{alarm['AlarmName']} notifies nobody"
        if "MetricName" in alarm:
            assert alarm["Namespace"] == metrics.NAMESPACE and alarm["MetricName"] in metrics.UNITS
            assert alarm["Unit"] == metrics.UNITS[alarm["MetricName"]]
            found.add((alarm["MetricName"], alarm["ComparisonOperator"], alarm["Threshold"]))
        else:
            found.add(("5xx-rate-percent", alarm["ComparisonOperator"], alarm["Threshold"]) if _is_5xx_rate(alarm) else alarm["AlarmName"])
    assert found == SEED_ALARMS
    down = next(a for a in alarms if a.get("MetricName") == metrics.OCR_WORKERS_ALIVE)
    assert down["Period"] * down["EvaluationPeriods"] == 600 and down["TreatMissingData"] == "breaching"


def _is_5xx_rate(alarm: dict) -> bool:
    stats = {m["Id"]: m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m}
    names = {m["MetricName"] for m in stats.values()}
    dimensions = {d["Value"] for m in stats.values() for d in m["Dimensions"] if d["Name"] == metrics.ALB_DIMENSION}
    (expression,) = [m["Expression"] for m in alarm["Metrics"] if m.get("ReturnData")]
    return (names == {metrics.ALB_TARGET_5XX, metrics.ALB_REQUESTS} and dimensions == {"app/filot-backend-alb/50dc6c495c0c9188"}
            and expression.startswith("100 *"))


def test_dashboard_shows_every_alarm(params: ManifestParams) -> None:
    import json

    body = json.loads(load_dashboard(params)["DashboardBody"])
    shown = {arn.rsplit(":", 1)[1] for w in body["widgets"] if w["type"] == "alarm" for arn in w["properties"]["alarms"]}
    assert shown == {a["AlarmName"] for a in load_alarms(params)}


def test_every_topic_an_alarm_notifies_has_its_subscribers_declared(params: ManifestParams) -> None:
    notified = {arn.rsplit(":", 1)[1] for alarm in load_alarms(params)
                for arn in alarm.get("AlarmActions", []) + alarm.get("OKActions", []) if arn.startswith("arn:aws:sns:")}
    declared = {topic["TopicName"] for topic in read_json(NOTIFICATIONS_FILE)}
    assert declared == notified, f"{NOTIFICATIONS_FILE}: expected the alarms' topics {sorted(notified)}, has {sorted(declared)}"


SEED_SECRETS = {
    "filot/production/jwt-secret", "filot/production/session-secret", "filot/production/service-internal-key",
    "filot/production/database-url", "filot/production/redis", "filot/production/cf-r2", "filot/production/buli2",
    "filot/production/temporal", "filot/production/aws-account-id", "filot/production/stack-auth",
    "filot/production/cf-account-id", "filot/production/epr",
}


def test_secrets_manifest_has_the_seeds_secrets_and_rules() -> None:
    manifest = load_secrets_manifest()
    assert {s.id for s in manifest.secrets} == SEED_SECRETS
    assert all(s.id.startswith(aws_names.SECRETS_PREFIX + "/") for s in manifest.secrets)
    assert not manifest.get("filot/production/temporal").required
    jwt = manifest.get("filot/production/jwt-secret").key("JWT_SECRET")
    assert jwt.rules["minLength"] >= 32 and jwt.rules["notKnownDefault"]
    assert manifest.get("filot/production/redis").key("REDIS_URL").rules["scheme"] == ["rediss"]
    assert manifest.get("filot/production/buli2").key("BULI2_SIGNATURE_SECRET").rules["minLength"] >= 32
    api_rule = pytest.importorskip("filot_contract.secrets", reason="the API's secret rule module is not in this tree")
    missing = {d.lower() for d in api_rule.KNOWN_DEFAULT_SECRETS} - manifest.known_defaults
    assert not missing, f"knownDefaults lacks defaults the API refuses: {sorted(missing)}"


def test_rules_report_problems_without_values() -> None:
    manifest = load_secrets_manifest()
    jwt = manifest.get("filot/production/jwt-secret").key("JWT_SECRET")
    default = sorted(d for d in manifest.known_defaults if len(d) >= 32)[0]
    problems = manifest.check_key(jwt, default.upper()) + manifest.check_key(jwt, "short")
    assert problems == ["JWT_SECRET is a known default value", "JWT_SECRET is shorter than 32 characters"]
    redis = manifest.get("filot/production/redis")
    found = manifest.check(redis, {"REDIS_URL": "redis://:hunter2hunter2@cache:6379/0"})
    assert found == ["REDIS_URL must use scheme rediss://, got redis://", "REDIS_PASSWORD is missing from filot/production/redis"]
    assert not any("hunter2" in p for p in found)


def test_env_template_lists_every_variable_without_values(params: ManifestParams) -> None:
    lines = [line for line in (REPO_ROOT / "prod.env.template").read_text().splitlines() if line and not line.startswith("#")]
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]*=", line) for line in lines), "a variable has a value"
    names = {line[:-1] for line in lines}
    wanted = {k.name for s in load_secrets_manifest().secrets for k in s.keys}
    for key in aws_names.SERVICES:
        for c in load_task_definition(key, params)["containerDefinitions"]:
            wanted |= {e["name"] for e in c["environment"]} | {s["name"] for s in c["secrets"]}
    assert wanted <= names, f"missing from prod.env.template: {sorted(wanted - names)}"


def test_image_versions_pin_two_revisions_per_repository() -> None:
    versions = load_image_versions()
    assert set(versions) == set(aws_names.REPOSITORIES.values())
    for repo, v in versions.items():
        assert v.previous is not None and v.previous.digest != v.current.digest, f"{repo}: needs a distinct previous image"


def test_log_queries_name_known_log_groups() -> None:
    queries = load_log_queries()
    assert {"startup", "errors", "gpu-detection", "job-durations"} <= set(queries)
    for query in queries.values():
        assert set(query.log_groups) <= {aws_names.BACKEND_LOG_GROUP, aws_names.GPU_LOG_GROUP}, query.name
        assert query.query.startswith(("fields", "filter", "stats")) and "#" not in query.query.splitlines()[0]


def test_runbook_and_wrappers_name_the_gate_commands() -> None:
    runbook = (REPO_ROOT / "runbooks" / "T8B-deploy-runbook.md").read_text()
    for command in ("make gate", "pytest --target=production -m e2e", "python -m filot_gate.deploy rollback",
                    "--rollback plan", "--rollback auto", "--scale-to-zero", "scripts/deploy-backend.sh",
                    "scripts/deploy-ocr-gpu.sh", "scripts/ops/requeue_stuck_jobs.sh"):
        assert command in runbook, f"runbook does not name {command!r}"
    keyspace = f"CONFIG SET notify-keyspace-events {redis_keys.KEYSPACE_EVENTS}"
    assert keyspace in runbook, f"runbook: expected the command {keyspace!r} (the contract's keyspace events)"
    for script in ("scripts/deploy-backend.sh", "scripts/deploy-ocr-gpu.sh", "scripts/ops/requeue_stuck_jobs.sh"):
        path: Path = REPO_ROOT / script
        assert path.stat().st_mode & 0o111 and "-m filot_gate.deploy" in path.read_text(), script


def _described_epr_task(params: ManifestParams, change: Callable[[dict], None]) -> dict:
    """EPR's task definition as ECS would describe it, after ``change``."""
    described = load_task_definition("epr", params)
    change(described)
    return described


def _by_name(described: dict, name: str) -> dict:
    return next(c for c in described["containerDefinitions"] if c["name"] == name)


@pytest.mark.parametrize("change, problem", [
    (lambda t: None, None),
    (lambda t: _by_name(t, "audit-worker").update(essential=True), "container audit-worker: expected essential false"),
    (lambda t: _by_name(t, "audit-worker").update(image="elsewhere/omen-epr:old"),
     "container audit-worker: expected the image of omen-epr"),
    (lambda t: _by_name(t, "omen-epr").update(portMappings=[{"containerPort": 80}]),
     "container omen-epr: expected containerPort 8080, got [80]"),
    (lambda t: _by_name(t, "omen-epr")["secrets"].pop(), "container omen-epr: required variables EPR_REDIS_TOKEN not set"),
    (lambda t: t.update(memory="512"), "task memory: expected at least 1024, got 512"),
    (lambda t: t["containerDefinitions"].pop(), "expected containers omen-epr, audit-worker, the task definition has omen-epr"),
    (lambda t: t.update(taskRoleArn=f"arn:aws:iam::{ACCOUNT}:role/ecsTaskRole"), "taskRoleArn: expected role omenEprTaskRole"),
    (lambda t: _by_name(t, "omen-epr")["healthCheck"].update(command=["CMD-SHELL", "curl -f http://localhost:8080/ || exit 1"]),
     "container omen-epr: expected a health check on /healthz"),
], ids=["manifest", "worker-essential", "worker-other-image", "api-port", "variable-missing", "memory", "worker-absent",
        "task-role", "health-check"])
def test_epr_task_rules(params: ManifestParams, change: Callable[[dict], None], problem: str | None) -> None:
    found = taskdef_rules.problems(_described_epr_task(params, change), "epr", load_secrets_manifest())
    if problem is None:
        assert found == []
    else:
        assert any(problem in f for f in found), f"expected a problem containing {problem!r}, got {found}"


def aws_managed_policy(arn: str) -> dict:
    """An AWS managed policy's document, from the copy moto ships (offline, as AWS publishes it)."""
    return json.loads(aws_managed_policies_data)[arn.rsplit("/", 1)[-1]]["Document"]


@pytest.mark.parametrize("key", list(aws_names.SERVICES))
def test_each_task_definitions_execution_role_allows_what_ecs_needs_to_start_it(params: ManifestParams, key: str) -> None:
    taskdef = load_task_definition(key, params)
    role = next(r for r in load_roles(params) if r.create_role["RoleName"] == role_name(taskdef["executionRoleArn"]))
    policies = [*map(json.loads, role.inline_policies.values()), *map(aws_managed_policy, role.managed_policy_arns)]
    needs = execution_role.needs(taskdef, REGION, ACCOUNT)
    assert {action for action, _ in needs} >= {"ecr:BatchGetImage", "logs:PutLogEvents", "secretsmanager:GetSecretValue"}
    assert refused(policies, needs) == []
