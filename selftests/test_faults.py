"""Each sandbox fault breaks what it says, where a real incident would show it: inject it, see the
emulated AWS, Redis, PostgreSQL, the ALB or BULI2 report the broken state as production would, heal
it, see the healthy state again. Observed directly (boto3, redis, SQL, HTTP), never through the gate
(selftests/test_faults_*_*.py run the gate on the same faults).

One private sandbox for the module; faults are injected and healed in-process (the CLI is covered
once), so the module costs the sandbox's start plus each fault's own waits.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit
from typing import Any, Callable, NamedTuple

import httpx
import psycopg
import pytest
import redis
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from filot_contract import aws_names, buli2, metrics, redis_keys, temporal
from filot_contract.log_lines import STARTUP_MESSAGES
from filot_contract.secrets import secret_weakness
from filot_gate import task_stops
from filot_gate.checks import tasks
from filot_gate.manifests import DASHBOARD_FILE, read_json
from filot_gate.messaging import topic_arn
from filot_gate.metric_arrival import samples_within
from filot_gate.review_callback import decision_on_no_document, sign
from filot_gate.tokens import sign_token
from filot_gate.task_logs import TaskStream, first_messages
from filot_gate.temporal_runs import TemporalConnection, TemporalUnreachable, describe_namespace
from sandbox import faults
from sandbox.api.defects import CONNECTION_CAP
from sandbox.api.settings import ApiSettings
from sandbox.config import SandboxConfig
from sandbox.datastores import close_wal_segment, wal_archive_dir
from sandbox.faults.aws import (
    DELETED_ROLE, DELETED_SECRET, EPR_SECRET, EXEC_LOG_GROUP, INSTANCE_ROLE, JWT_SECRET, PAGER_TOPIC, QUEUE_WIDGET, R2_SECRET,
    REDIS_SECRET, WATCHED_ALARM)
from sandbox.faults.context import FaultContext
from sandbox.faults.model import Fault, FaultError
from sandbox.faults.temporal import SECRET as TEMPORAL_SECRET
from sandbox.metrics_bridge import RENAMED_QUEUE_LENGTH
from selftests.sandbox_fixture import REPO, PrivateSandbox, start_private_sandbox, stop_private_sandbox

pytestmark = pytest.mark.sandbox

ALARM_MINUTE_S = 1
MIGRATIONS = len(list((REPO / "sandbox" / "migrations").glob("*.sql")))
#: Seconds an eventually consistent read (log delivery, target health) may take to show a change.
SETTLE_S = 10


class Box:
    """The private sandbox, read as an operator reads production."""

    def __init__(self, sandbox: PrivateSandbox, config: SandboxConfig) -> None:
        self.sandbox, self.config = sandbox, config
        self.creds = sandbox.credentials

    def aws(self, name: str) -> Any:
        return self.sandbox.aws(name)

    def redis(self, password: str | None = "own") -> redis.Redis:
        return redis.Redis(host=self.config.host, port=self.config.redis_port, ssl=True, ssl_ca_certs=str(self.config.ca_file),
                           password=self.creds["REDIS_PASSWORD"] if password == "own" else password, decode_responses=True)

    def db(self) -> psycopg.Connection:
        url = f"postgresql://filot:{self.creds['POSTGRES_PASSWORD']}@{self.config.host}:{self.config.postgres_port}/filot"
        return psycopg.connect(url, connect_timeout=5, autocommit=True)

    def sql(self, query: str, *args: Any) -> Any:
        with self.db() as conn:
            return conn.execute(query, args).fetchone()[0]

    def tasks(self, key: str) -> list[dict]:
        return json.loads((self.config.run_dir / "controller.json").read_text())["services"][key]["tasks"]

    def record(self, key: str) -> dict:
        return json.loads(self.config.deploy_record.read_text())["services"][key]

    def service(self, key: str) -> dict:
        cluster, name, _, _ = aws_names.SERVICES[key]
        return self.aws("ecs").describe_services(cluster=cluster, services=[name])["services"][0]

    def target_states(self, service: str = "backend") -> dict[str, str]:
        elb = self.aws("elbv2")
        arn = elb.describe_target_groups(Names=[aws_names.TARGET_GROUPS[service][0]])["TargetGroups"][0]["TargetGroupArn"]
        return {d["Target"]["Id"]: d["TargetHealth"]["State"] for d in elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]}

    def secret(self, secret_id: str) -> str | None:
        try:
            return self.aws("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
        except self.aws("secretsmanager").exceptions.InvalidRequestException:
            return None  # scheduled for deletion

    def absent(self, call: Callable[[], Any], *codes: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            call()
        except ClientError as exc:
            assert exc.response["Error"]["Code"] in codes, exc
            return True
        return False


# --- what each fault looks like from outside ------------------------------------------------------------

def image_present(box: Box, key: str) -> bool:
    repository, digest = aws_names.REPOSITORIES[key], box.record(key)["imageDigest"]
    return not box.absent(lambda: box.aws("ecr").describe_images(repositoryName=repository, imageIds=[{"imageDigest": digest}]),
                          "ImageNotFoundException", "RepositoryNotFoundException")


def health_with_connections_held(box: Box) -> int:
    """GET /health while other clients hold connections to the two backend tasks: a capped task keeps
    CONNECTION_CAP - 1 of them (it answers 503 to a new one and closes it); three per cap leave a margin for
    the ALB's round robin."""
    held = [httpx.Client(base_url=box.config.api_url, timeout=10) for _ in range(3 * CONNECTION_CAP)]
    try:
        for client in held:
            client.get("/health")  # keep-alive: the connection stays open (a capped task closes it with its 503)
        return httpx.get(f"{box.config.api_url}/health", timeout=10).status_code
    finally:
        for client in held:
            client.close()


def asg_health(box: Box) -> str:
    group = box.aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[aws_names.GPU_ASG])["AutoScalingGroups"][0]
    return group["Instances"][0]["HealthStatus"]


def instance_profile_roles(box: Box) -> list[str]:
    iam = box.aws("iam")
    profiles = iam.list_instance_profiles()["InstanceProfiles"]
    return sorted(r["RoleName"] for p in profiles for r in p["Roles"])


def gpu_placement(box: Box) -> tuple[str, int, bool]:
    ecs = box.aws("ecs")
    arns = ecs.list_container_instances(cluster=aws_names.GPU_CLUSTER)["containerInstanceArns"]
    status = ecs.describe_container_instances(cluster=aws_names.GPU_CLUSTER, containerInstances=arns)["containerInstances"][0]["status"]
    service = box.service("ocr-gpu")
    return status, service["runningCount"], "was unable to place a task" in service["events"][0]["message"]


def backend_log_messages(box: Box) -> list[list[str] | None]:
    """Each backend task's CloudWatch stream, oldest line first; None for a stream that does not exist."""
    logs = box.aws("logs")
    streams = [TaskStream(t["task"], t["logGroup"], t["logStream"]) for t in box.tasks("backend")]
    return [first_messages(logs, stream, limit=10_000) for stream in streams]


def startup_lines_everywhere(box: Box) -> bool:
    return all(lines is not None and any(STARTUP_MESSAGES["backend"] in line for line in lines)
               for lines in backend_log_messages(box))


def database_password_in_backend_logs(box: Box) -> bool:
    password = urlsplit(box.secret(f"{aws_names.SECRETS_PREFIX}/database-url")).password
    return any(password in line for lines in backend_log_messages(box) for line in lines or [])


def error_lines_per_backend_task(box: Box) -> list[int]:
    return [sum(line.startswith("{") and json.loads(line).get("level") == "error" for line in lines or [])
            for lines in backend_log_messages(box)]


def alarm(box: Box, name: str) -> dict | None:
    found = box.aws("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return found[0] if found else None


def anonymous_ping(box: Box) -> bool:
    try:
        return bool(box.redis(password=None).ping())
    except redis.RedisError:
        return False


def constraint_count(box: Box, table: str, kind: str, mentions: str) -> int:
    return box.sql("SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = %s"
                   " AND pg_get_constraintdef(oid) LIKE %s", table, kind, f"%{mentions}%")


def new_wal_segment_reaches_backup_storage(box: Box) -> bool:
    """Close a WAL segment and look for it in the sandbox's backup storage (its archive directory)."""
    with box.db() as conn:
        segment = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0]
        close_wal_segment(conn)
    archived = wal_archive_dir(box.config) / segment
    return Retrying(stop=stop_after_delay(5), wait=wait_fixed(0.2), retry=retry_if_result(lambda found: not found),
                    retry_error_callback=lambda state: False)(archived.exists)


def live_heartbeats(box: Box) -> int:
    return sum(1 for _ in box.redis().scan_iter(redis_keys.WORKER_HEARTBEAT_PATTERN))


def alb_health(box: Box) -> int:
    return httpx.get(f"{box.config.api_url}/health", timeout=15).status_code


def epr_health(box: Box) -> int:
    return httpx.get(f"{box.config.epr_api_url}{aws_names.EPR_HEALTH_CHECK_PATH}", timeout=15).status_code


def epr_secret(box: Box, key: str) -> str:
    return json.loads(box.secret(EPR_SECRET))[key]


def deployed_image_tags(box: Box, key: str) -> list[str]:
    """The ECR tags of the image the service's deployed revision runs (pinned by digest)."""
    revision = box.aws("ecs").describe_task_definition(taskDefinition=box.service(key)["taskDefinition"])["taskDefinition"]
    digest = revision["containerDefinitions"][0]["image"].rsplit("@", 1)[-1]
    return box.aws("ecr").describe_images(repositoryName=aws_names.REPOSITORIES[key],
                                          imageIds=[{"imageDigest": digest}])["imageDetails"][0]["imageTags"]


def queue_length_names_arriving(box: Box) -> list[str]:
    """Which of the queue length's names (the alarms', the renamed build's) got datapoints in the last three
    sandbox minutes."""
    cloudwatch = box.aws("cloudwatch")
    return [name for name in (RENAMED_QUEUE_LENGTH, metrics.QUEUE_LENGTH)
            if samples_within(cloudwatch, metrics.NAMESPACE, name, [], 3 * ALARM_MINUTE_S)]


def queue_widget_metrics(box: Box) -> list[list[str]]:
    """The metrics the dashboard's queue-length widget shows (aws cloudwatch get-dashboard)."""
    name = read_json(DASHBOARD_FILE)["DashboardName"]
    body = json.loads(box.aws("cloudwatch").get_dashboard(DashboardName=name)["DashboardBody"])
    return next(w["properties"]["metrics"] for w in body["widgets"] if w["properties"].get("title") == QUEUE_WIDGET)


def deploys_build(box: Box, key: str, defect: str) -> bool:
    """Whether the service's deployed image is the build with ``defect`` (its tag ends with the defect's name)."""
    return any(tag.endswith(f"-{defect}") for tag in deployed_image_tags(box, key))


def secrets_bucket_exists(box: Box) -> bool:
    """Whether the bucket the R2 secret names exists (aws s3api head-bucket)."""
    bucket = json.loads(box.secret(R2_SECRET))["CF_R2_BUCKET_NAME"]
    return not box.absent(lambda: box.aws("s3").head_bucket(Bucket=bucket), "404", "NoSuchBucket")


def epr_database_accepts_the_secret(box: Box) -> bool:
    try:
        with psycopg.connect(epr_secret(box, "EPR_DATABASE_URL"), connect_timeout=5) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def upstash_ping_status(box: Box) -> int:
    """What EPR's Upstash REST API answers PING with the secret's token."""
    tls = ssl.create_default_context(cafile=str(box.config.ca_file))
    return httpx.post(box.config.epr_redis_url, json=["PING"], timeout=10, verify=tls,
                      headers={"Authorization": f"Bearer {epr_secret(box, 'EPR_REDIS_TOKEN')}"}).status_code


def temporal_namespace_found(box: Box) -> bool:
    """Whether Temporal knows the namespace secret filot/production/temporal names."""
    values = json.loads(box.secret(TEMPORAL_SECRET))
    connection = TemporalConnection(values[temporal.ENDPOINT_KEY], values[temporal.NAMESPACE_KEY],
                                    values[temporal.API_KEY_KEY], tls=False)
    try:
        return describe_namespace(connection)["state"] == "REGISTERED"
    except TemporalUnreachable:
        return False


def backend_temporal_switch(box: Box) -> str | None:
    """TEMPORAL_DISABLED of the backend's live task definition."""
    arn = box.service("backend")["taskDefinition"]
    container = box.aws("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]["containerDefinitions"][0]
    return next((e["value"] for e in container["environment"] if e["name"] == temporal.SWITCH), None)


def topic_names(box: Box) -> set[str]:
    return {t["TopicArn"].rsplit(":", 1)[-1] for t in box.aws("sns").list_topics()["Topics"]}


def audit_topic_endpoints(box: Box) -> list[str]:
    """What the audit topic delivers to (queue names)."""
    arn = f"arn:aws:sns:{box.config.region}:{box.config.account_id}:{aws_names.EPR_AUDIT_TOPIC}"
    return [s["Endpoint"].rsplit(":", 1)[-1] for s in box.aws("sns").list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]]


def audit_queue_attributes(box: Box) -> dict[str, str]:
    sqs = box.aws("sqs")
    url = sqs.get_queue_url(QueueName=aws_names.EPR_AUDIT_QUEUE)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def epr_tasks_group(box: Box) -> dict:
    ec2 = box.aws("ec2")
    return ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [aws_names.EPR_TASKS_SECURITY_GROUP]}])["SecurityGroups"][0]


def inline_policies(role: str) -> Callable[[Box], list[str]]:
    return lambda box: sorted(box.aws("iam").list_role_policies(RoleName=role)["PolicyNames"])


def gate_role_reads_ecs_lists(box: Box) -> bool:
    """Whether the gate role's read policy still has ecs:List* (aws iam get-role-policy)."""
    document = box.aws("iam").get_role_policy(RoleName=aws_names.GATE_ROLE, PolicyName=aws_names.GATE_READ_POLICY)["PolicyDocument"]
    return any("ecs:List*" in statement["Action"] for statement in document["Statement"])


def attached_policies(role: str) -> Callable[[Box], list[str]]:
    return lambda box: sorted(p["PolicyName"] for p in box.aws("iam").list_attached_role_policies(RoleName=role)["AttachedPolicies"])


def epr_ecs_exec(box: Box) -> bool | None:
    return box.aws("ecs").describe_services(cluster=aws_names.EPR_CLUSTER, services=[aws_names.EPR_SERVICE])[
        "services"][0].get("enableExecuteCommand")


def crashed_backend_tasks(box: Box) -> int:
    """Backend tasks of the service's current deployment that stopped on a failure of their own."""
    service = box.service("backend")
    revision = service["taskDefinition"]
    return len(task_stops.failed_since(tasks(box.aws("ecs"), "backend", "STOPPED"), revision,
                                       task_stops.deployment_start(service, revision)))


def epr_tasks_ecs_exec(box: Box) -> list[bool | None]:
    """enableExecuteCommand of each running EPR task, as describe-tasks shows it."""
    return [t.get("enableExecuteCommand") for t in tasks(box.aws("ecs"), "epr")]


def audit_worker_containers(box: Box) -> list[tuple[str, str, int | None]]:
    """(task status, audit-worker status, its exit code) of each EPR task, as describe-tasks shows them."""
    return [(t["lastStatus"], c["lastStatus"], c.get("exitCode")) for t in tasks(box.aws("ecs"), "epr") for c in t["containers"]
            if c["name"] == aws_names.EPR_WORKER_CONTAINER]


def audit_worker_stopped(box: Box) -> list[bool]:
    """Whether each audit worker process is stopped by a signal (state T in /proc)."""
    pids = [t["sidecars"][aws_names.EPR_WORKER_CONTAINER]["pid"] for t in box.tasks("epr")]
    return [Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T" for pid in pids]


def callback_status(box: Box) -> int | None:
    """FiLot's answer to a BULI2 callback of a fresh review (the simulator signs and delivers it)."""
    key = box.creds["BULI2_API_KEY"]
    review = f"fault-selftest-{uuid.uuid4().hex[:8]}"
    httpx.post(f"{box.config.buli2_url}/reviews", headers={"Authorization": f"Bearer {key}"}, timeout=10,
               json={"reviewRequestId": review, "documentId": str(uuid.uuid4()),
                     "callbackUrl": f"{box.config.api_url}/internal/reviews"}).raise_for_status()

    def delivered() -> int | None:
        reviews = httpx.get(f"{box.config.buli2_url}/admin/reviews", timeout=10).json()["reviews"]
        mine = next(r for r in reviews if r["reviewRequestId"] == review)
        return mine["deliveries"][-1]["status"] if mine["deliveries"] else None

    return eventually(delivered, lambda status: status is not None, f"BULI2 callback of {review} delivered", 30)


def refused_callback_status(box: Box, signed: bool, body: Callable[[bytes], bytes] = lambda body: body) -> int:
    """FiLot's answer to a callback for a document that does not exist: unsigned, or signed with the
    sandbox's BULI2 secret over ``body`` of the decision (a sound FiLot refuses both before any lookup)."""
    callback_id, decision = decision_on_no_document("fault-selftest")
    request = sign(box.creds["BULI2_SIGNATURE_SECRET"], callback_id, body(decision))
    headers = request.headers if signed else {k: v for k, v in request.headers.items() if k != buli2.SIGNATURE_HEADER}
    return httpx.post(f"{box.config.api_url}/internal/reviews", content=request.body, headers=headers, timeout=10).status_code


def evaluate_limited_within(box: Box) -> bool:
    """Whether one admin re-scoring a malformed document id is answered 429 within the API's limit plus one
    (a fixed window may restart once: twice that)."""
    limit = ApiSettings.model_fields["rate_limit_per_minute"].default
    admin = {"Authorization": f"Bearer {sign_token(box.creds['JWT_SECRET'], f'fault-selftest-{uuid.uuid4().hex[:8]}', role='admin')}"}
    with httpx.Client(base_url=box.config.api_url, headers=admin, timeout=10) as http:
        return any(http.post("/verification/evaluate", json={"documentId": "not-a-uuid"}).status_code == 429
                   for _ in range(2 * limit + 1))


def eventually(read: Callable[[], Any], done: Callable[[Any], bool], awaited: str, deadline_s: float) -> Any:
    value = Retrying(stop=stop_after_delay(deadline_s), wait=wait_fixed(0.3), retry=retry_if_result(lambda v: not done(v)),
                     retry_error_callback=lambda state: state.outcome.result())(read)
    assert done(value), f"{awaited}: not within {deadline_s}s; last seen {value!r}"
    return value


class Seen(NamedTuple):
    """What is read, what it must be while the fault is in, and once healed."""

    read: Callable[[Box], Any]
    broken: Any
    healthy: Any


SEEN: dict[str, Seen] = {
    "missing-secret": Seen(lambda b: b.secret(DELETED_SECRET) is not None, False, True),
    "default-jwt-secret": Seen(lambda b: secret_weakness(b.secret(JWT_SECRET)) is None, False, True),
    "aws-account-id-wrong": Seen(lambda b: b.secret(f"{aws_names.SECRETS_PREFIX}/aws-account-id") == b.config.account_id, False, True),
    "redis-not-tls": Seen(lambda b: json.loads(b.secret(REDIS_SECRET))["REDIS_URL"].split("://")[0], "redis", "rediss"),
    "epr-database-password-wrong": Seen(epr_database_accepts_the_secret, False, True),
    "storage-bucket-secret-wrong": Seen(secrets_bucket_exists, False, True),
    "epr-redis-token-wrong": Seen(upstash_ping_status, 401, 200),
    "temporal-namespace-wrong": Seen(temporal_namespace_found, False, True),
    "temporal-dropped": Seen(backend_temporal_switch, "true", "false"),
    "ecr-repository-missing": Seen(lambda b: image_present(b, "ocr-gpu"), False, True),
    "image-missing": Seen(lambda b: image_present(b, "backend"), False, True),
    "backend-release-without-input-validation": Seen(
        lambda b: httpx.get(f"{b.config.api_url}/verification/status/not-a-uuid", timeout=10).status_code, 503, 422),
    "backend-release-capped-at-4-connections": Seen(health_with_connections_held, 503, 200),
    "backend-release-with-optional-callback-signature": Seen(lambda b: refused_callback_status(b, signed=False), 404, 401),
    "backend-release-crashing-on-malformed-callbacks": Seen(
        lambda b: refused_callback_status(b, signed=True, body=lambda decision: b"not json"), 500, 400),
    "backend-release-without-evaluate-rate-limit": Seen(evaluate_limited_within, False, True),
    "backend-release-storing-scores-as-fractions": Seen(
        lambda b: deploys_build(b, "backend", "score-stored-as-fraction"), True, False),
    "backend-release-renaming-the-queue-metric": Seen(queue_length_names_arriving, [RENAMED_QUEUE_LENGTH], [metrics.QUEUE_LENGTH]),
    "worker-release-without-job-lines": Seen(
        lambda b: deploys_build(b, "ocr-gpu", "job-line-at-debug"), True, False),
    "asg-instance-unhealthy": Seen(asg_health, "Unhealthy", "Healthy"),
    "launch-template-not-gpu": Seen(lambda b: b.aws("ec2").describe_launch_template_versions(
        LaunchTemplateName=aws_names.GPU_LAUNCH_TEMPLATE, Versions=["$Latest"])["LaunchTemplateVersions"][0][
        "LaunchTemplateData"]["InstanceType"], "m5.xlarge", "g5.xlarge"),
    "instance-profile-missing": Seen(lambda b: INSTANCE_ROLE in instance_profile_roles(b), False, True),
    "iam-role-missing": Seen(lambda b: not b.absent(lambda: b.aws("iam").get_role(RoleName=DELETED_ROLE), "NoSuchEntity"), False, True),
    "worker-scaled-to-zero": Seen(lambda b: (b.service("ocr-gpu")["desiredCount"], b.service("ocr-gpu")["runningCount"]), (0, 0), (1, 1)),
    "worker-down": Seen(gpu_placement, ("DRAINING", 0, True), ("ACTIVE", 1, False)),
    "service-wrong-revision": Seen(lambda b: b.service("backend")["taskDefinition"] == b.record("backend")["taskDefinitionArn"], False, True),
    "deployment-failed": Seen(lambda b: [(d["status"], d.get("rolloutState")) for d in b.service("backend")["deployments"]],
                              [("PRIMARY", "FAILED"), ("ACTIVE", "COMPLETED")], [("PRIMARY", "COMPLETED")]),
    "deploy-peak-over-database-limit": Seen(lambda b: b.service("backend")["deploymentConfiguration"]["maximumPercent"], 1000, 200),
    "worker-placement-binpack": Seen(lambda b: b.service("ocr-gpu")["placementStrategy"][0]["type"], "binpack", "spread"),
    "container-insights-off": Seen(lambda b: b.aws("ecs").describe_clusters(clusters=[aws_names.GPU_CLUSTER], include=["SETTINGS"])[
        "clusters"][0]["settings"], [{"name": "containerInsights", "value": "disabled"}], [{"name": "containerInsights", "value": "enabled"}]),
    "circuit-breaker-off": Seen(lambda b: b.service("backend")["deploymentConfiguration"]["deploymentCircuitBreaker"],
                                {"enable": False, "rollback": False}, {"enable": True, "rollback": True}),
    "target-deregistered": Seen(lambda b: sorted(b.target_states()) == sorted(t["ip"] for t in b.tasks("backend")), False, True),
    "epr-target-deregistered": Seen(lambda b: (b.target_states("epr") == {t["ip"]: "healthy" for t in b.tasks("epr")},
                                               epr_health(b)), (False, 503), (True, 200)),
    "health-check-path-wrong": Seen(lambda b: (b.aws("elbv2").describe_target_groups(Names=[aws_names.TARGET_GROUP_NAME])[
        "TargetGroups"][0]["HealthCheckPath"], set(b.target_states().values())), ("/metrics", {"healthy"}), ("/health", {"healthy"})),
    "log-group-retention-wrong": Seen(lambda b: b.aws("logs").describe_log_groups(logGroupNamePrefix=aws_names.BACKEND_LOG_GROUP)[
        "logGroups"][0]["retentionInDays"], 7, 90),
    "backend-autoscaling-removed": Seen(lambda b: [t["MaxCapacity"] for t in b.aws("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="ecs", ResourceIds=[f"service/{aws_names.BACKEND_CLUSTER}/{aws_names.BACKEND_SERVICE}"])["ScalableTargets"]],
        [], [4]),
    "exec-log-group-missing": Seen(lambda b: [g["logGroupName"] for g in b.aws("logs").describe_log_groups(
        logGroupNamePrefix=EXEC_LOG_GROUP)["logGroups"]], [], [EXEC_LOG_GROUP]),
    "startup-lines-missing": Seen(startup_lines_everywhere, False, True),
    "secret-in-logs": Seen(database_password_in_backend_logs, True, False),
    "malformed-ocr-result": Seen(error_lines_per_backend_task, [1, 1], [0, 0]),
    "alarm-missing": Seen(lambda b: alarm(b, WATCHED_ALARM) is not None, False, True),
    "alarm-wrong-threshold": Seen(lambda b: alarm(b, WATCHED_ALARM)["Threshold"], 200.0, 20.0),
    "pager-unsubscribed": Seen(lambda b: [s["Protocol"] for s in b.aws("sns").list_subscriptions_by_topic(
        TopicArn=topic_arn(b.config.region, b.config.account_id, PAGER_TOPIC))["Subscriptions"]], [], ["sms"]),
    "dashboard-widget-wrong-metric": Seen(queue_widget_metrics, [[metrics.NAMESPACE, RENAMED_QUEUE_LENGTH]],
                                          [[metrics.NAMESPACE, metrics.QUEUE_LENGTH]]),
    "dashboard-missing": Seen(lambda b: bool(b.aws("cloudwatch").list_dashboards()["DashboardEntries"]), False, True),
    "redis-no-auth": Seen(anonymous_ping, True, False),
    "redis-eviction-policy": Seen(lambda b: b.redis().config_get("maxmemory-policy")["maxmemory-policy"], "allkeys-lru", "noeviction"),
    "redis-nearly-full": Seen(lambda b: 100 * int(b.redis().info("memory")["used_memory"])
                              >= 80 * int(b.redis().config_get("maxmemory")["maxmemory"]), True, False),
    "redis-aof-off": Seen(lambda b: b.redis().config_get("appendonly")["appendonly"], "no", "yes"),
    "redis-keyspace-events-off": Seen(lambda b: bool(b.redis().config_get("notify-keyspace-events")["notify-keyspace-events"]), False, True),
    "alarm-firing": Seen(lambda b: alarm(b, "filot-buli2-retry-queue-depth-high")["StateValue"], "ALARM", "OK"),
    "migration-missing": Seen(lambda b: b.sql("SELECT count(*) FROM schema_migrations"), MIGRATIONS - 1, MIGRATIONS),
    "table-missing": Seen(lambda b: b.sql("SELECT to_regclass('manual_reviews') IS NOT NULL"), False, True),
    "foreign-key-missing": Seen(lambda b: constraint_count(b, "verification_results", "f", "REFERENCES documents"), 0, 1),
    "status-check-missing": Seen(lambda b: constraint_count(b, "documents", "c", "verification_status"), 0, 1),
    "wal-archiving-failing": Seen(new_wal_segment_reaches_backup_storage, False, True),
    "worker-not-polling": Seen(lambda b: (live_heartbeats(b), b.service("ocr-gpu")["runningCount"]), (0, 1), (1, 1)),
    "worker-on-cpu-when-gpu-required": Seen(lambda b: [json.loads(b.redis().get(k))["device"]
                                                       for k in b.redis().scan_iter(redis_keys.WORKER_HEARTBEAT_PATTERN)], ["cpu"], ["cpu"]),
    "target-unhealthy": Seen(lambda b: sorted(b.target_states().values()), ["healthy", "unhealthy"], ["healthy", "healthy"]),
    "api-task-crashed": Seen(crashed_backend_tasks, 1, 0),
    "api-unhealthy": Seen(lambda b: (set(b.target_states().values()), alb_health(b)), ({"unhealthy"}, 503), ({"healthy"}, 200)),
    "buli2-down": Seen(lambda b: httpx.get(f"{b.config.buli2_url}/health", timeout=10).status_code, 503, 200),
    "buli2-bad-signature": Seen(lambda b: callback_status(b) == 401, True, False),
    "document-topic-missing": Seen(lambda b: aws_names.EPR_DOCUMENT_TOPIC in topic_names(b), False, True),
    "audit-queue-unsubscribed": Seen(audit_topic_endpoints, [], [aws_names.EPR_AUDIT_QUEUE]),
    "epr-task-role-without-sqs": Seen(inline_policies(aws_names.EPR_TASK_ROLE), [aws_names.EPR_EXEC_POLICY, "SNSPublish"],
                                      [aws_names.EPR_EXEC_POLICY, "SNSPublish", aws_names.EPR_QUEUE_POLICY]),
    "epr-task-role-sqs-full-access": Seen(attached_policies(aws_names.EPR_TASK_ROLE), ["AmazonSQSFullAccess"], []),
    "epr-task-role-without-ecs-exec": Seen(inline_policies(aws_names.EPR_TASK_ROLE), ["SNSPublish", aws_names.EPR_QUEUE_POLICY],
                                           [aws_names.EPR_EXEC_POLICY, "SNSPublish", aws_names.EPR_QUEUE_POLICY]),
    "ecs-exec-disabled": Seen(epr_ecs_exec, False, True),
    "ecs-exec-on-without-new-tasks": Seen(epr_tasks_ecs_exec, [False], [True]),
    "gate-role-cannot-list-revisions": Seen(gate_role_reads_ecs_lists, False, True),
    "execution-role-cannot-read-secrets": Seen(inline_policies("ecsTaskExecutionRole"), [], ["filot-read-production-secrets"]),
    "audit-worker-killed": Seen(audit_worker_containers, [("RUNNING", "STOPPED", 137)], [("RUNNING", "RUNNING", None)]),
    "audit-worker-frozen": Seen(audit_worker_stopped, [True], [False]),
    "epr-api-unhealthy": Seen(epr_health, 503, 200),
    "audit-queue-closed-to-the-topic": Seen(lambda b: "Policy" in audit_queue_attributes(b), False, True),
    "epr-api-open-to-the-internet": Seen(lambda b: [r["CidrIp"] for p in epr_tasks_group(b)["IpPermissions"] for r in p["IpRanges"]],
                                         ["0.0.0.0/0"], []),
    "epr-egress-open": Seen(lambda b: sorted(str(p.get("FromPort", "all")) for p in epr_tasks_group(b)["IpPermissionsEgress"]),
                            ["443", "5432", "6379", "all"], ["443", "5432", "6379"]),
}


@pytest.fixture(scope="module")
def box():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FILOT_SANDBOX_ALARM_MINUTE_S", str(ALARM_MINUTE_S))
        sandbox = start_private_sandbox()
        for name, value in sandbox.env.items():
            if name.startswith("FILOT_SANDBOX_"):
                patch.setenv(name, value)
        config = SandboxConfig()
    yield Box(sandbox, config)
    stop_private_sandbox(sandbox)


def test_every_fault_is_observed_here():
    assert sorted(SEEN) == sorted(faults.FAULTS)


@pytest.mark.parametrize("name", list(SEEN))
def test_fault_breaks_what_it_says_and_heals(box, name):
    seen = SEEN[name]
    eventually(lambda: seen.read(box), lambda v: v == seen.healthy, f"{name}: healthy before the fault", SETTLE_S)
    faults.inject(box.config, name, say=lambda line: None)
    try:
        eventually(lambda: seen.read(box), lambda v: v == seen.broken, f"{name}: {seen.broken!r} with the fault in", SETTLE_S)
        assert name in faults.active(box.config)
    finally:
        faults.heal(box.config, name, say=lambda line: None)
    eventually(lambda: seen.read(box), lambda v: v == seen.healthy, f"{name}: {seen.healthy!r} once healed", SETTLE_S)
    assert faults.active(box.config) == {}


def cli(box: Box, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sandbox", *args], cwd=REPO, env=box.sandbox.env,
                          capture_output=True, text=True, timeout=120)


def test_cli_lists_injects_reports_and_heals_idempotently(box):
    listed = cli(box, "fault", "--list")
    assert listed.returncode == 0 and [line.split()[0] for line in listed.stdout.splitlines()] == list(faults.FAULTS)
    assert all(" -> fails " in line for line in listed.stdout.splitlines())
    unknown = cli(box, "fault", "no-such-fault")
    assert unknown.returncode == 2 and "known faults: missing-secret," in unknown.stderr, unknown.stderr
    assert cli(box, "fault", "buli2-down").returncode == 0
    again = cli(box, "fault", "buli2-down")
    assert again.returncode == 0 and "already active" in again.stdout
    status = cli(box, "status")
    assert "fault        buli2-down" in status.stdout, status.stdout
    assert cli(box, "heal", "buli2-down").returncode == 0
    healed_again = cli(box, "heal", "buli2-down")
    assert healed_again.returncode == 0 and "not active" in healed_again.stdout
    assert faults.active(box.config) == {}


HALF_MADE = "selftest-half-made"
SLOWLOG = "slowlog-max-len"


def half_made_fault(undo_fails: list[bool]) -> Fault:
    """A fault that changes Redis's slowlog-max-len, keeping the old value first, and then misses a deadline;
    its heal fails as long as ``undo_fails`` holds a True (one per attempt)."""
    def inject(ctx: FaultContext) -> None:
        client = ctx.redis()
        ctx.keep({SLOWLOG: client.config_get(SLOWLOG)[SLOWLOG]})
        client.config_set(SLOWLOG, 7)
        raise FaultError("the change was not seen within 1s")

    def heal(ctx: FaultContext, saved: dict) -> None:
        if undo_fails and undo_fails.pop(0):
            raise FaultError("Redis did not answer")
        ctx.redis().config_set(SLOWLOG, saved[SLOWLOG])

    return Fault(HALF_MADE, "slowlog-max-len changed", "nothing", inject, heal, undone_by="redis", needs=("redis",))


def test_an_injection_that_fails_part_way_is_undone_at_once(box, monkeypatch):
    before = box.redis().config_get(SLOWLOG)[SLOWLOG]
    monkeypatch.setitem(faults.FAULTS, HALF_MADE, half_made_fault(undo_fails=[]))
    said: list[str] = []
    with pytest.raises(FaultError, match="not seen within"):
        faults.inject(box.config, HALF_MADE, say=said.append)
    assert box.redis().config_get(SLOWLOG)[SLOWLOG] == before, said
    assert faults.active(box.config) == {}, "an undone injection must not be recorded as active"
    assert any("failed part way" in line for line in said) and "undone" in said[-1], said


def test_an_injection_whose_undo_fails_too_is_recorded_half_made_and_healed_later(box, monkeypatch):
    before = box.redis().config_get(SLOWLOG)[SLOWLOG]
    monkeypatch.setitem(faults.FAULTS, HALF_MADE, half_made_fault(undo_fails=[True]))
    said: list[str] = []
    try:
        with pytest.raises(FaultError):
            faults.inject(box.config, HALF_MADE, say=said.append)
        entry = faults.active(box.config)[HALF_MADE]
        assert entry["halfMade"] == "FaultError: the change was not seen within 1s" and entry["saved"] == {SLOWLOG: before}, entry
        assert "recorded as half made" in said[-1], said
        status = cli(box, "status")
        assert f"{HALF_MADE}" in status.stdout and "half made: FaultError" in status.stdout, status.stdout
        with pytest.raises(FaultError, match="half made .* heal it first"):
            faults.inject(box.config, HALF_MADE, say=said.append)
    finally:
        faults.heal(box.config, HALF_MADE, say=said.append)
    assert box.redis().config_get(SLOWLOG)[SLOWLOG] == before
    assert faults.active(box.config) == {}


def test_an_injection_that_failed_before_keeping_anything_is_not_recorded(box, monkeypatch):
    """Its heal fails on the same missing thing: a fault that never changed anything must not stay recorded."""
    def inject(ctx: FaultContext) -> None:
        raise FaultError("ASG filot-ocr-gpu-asg: expected an instance, it has none")

    def heal(ctx: FaultContext, saved: dict) -> None:
        raise FaultError("ASG filot-ocr-gpu-asg: expected an instance, it has none")

    monkeypatch.setitem(faults.FAULTS, HALF_MADE, Fault(HALF_MADE, "nothing", "nothing", inject, heal))
    said: list[str] = []
    with pytest.raises(FaultError, match="expected an instance"):
        faults.inject(box.config, HALF_MADE, say=said.append)
    assert faults.active(box.config) == {}, said
    assert "not recorded" in said[-1], said
