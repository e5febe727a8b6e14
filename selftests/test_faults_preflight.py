"""Every preflight check can fail: for each gate test, break the matching thing in a private sandbox,
run the preflight gate narrowed to the test's module, and see exactly that test fail with its message
and the verdict no-go; then heal (``selftests/gate_faults.py``). A last run proves every heal restored
a healthy sandbox (GO). Also: what a managed Redis's ``CONFIG GET`` hides is skipped, not failed.

One sandbox serves the whole module (faults are injected and healed one at a time, in this order; the
two deploys come last).
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from filot_contract import aws_names
from filot_gate.db_backups import BACKUP_METHODS
from filot_gate.manifests import CLUSTERS_FILE, read_json
from selftests.gate_faults import (  # noqa: F401 - sandbox and profile are fixtures
    Fault, assert_fails_exactly_its_check, assert_go, deployed, named_fault, profile, run_gate, run_sandbox_cli,
    sandbox, sandbox_cli)
from selftests.sandbox_fixture import PrivateSandbox

pytestmark = pytest.mark.sandbox

DATABASE_SECRET = "filot/production/database-url"


@contextmanager
def database_password_rotated_without_the_secret(sandbox: PrivateSandbox) -> Iterator[None]:
    """DATABASE_URL in Secrets Manager names a password the database no longer accepts."""
    secrets = sandbox.aws("secretsmanager")
    before = secrets.get_secret_value(SecretId=DATABASE_SECRET)["SecretString"]
    parts = urlsplit(before)
    stale = parts._replace(netloc=f"{parts.username}:rotated-away-{uuid.uuid4().hex}@{parts.hostname}:{parts.port}")
    secrets.put_secret_value(SecretId=DATABASE_SECRET, SecretString=urlunsplit(stale))
    try:
        yield
    finally:
        secrets.put_secret_value(SecretId=DATABASE_SECRET, SecretString=before)


@contextmanager
def gpu_cluster_marked_inactive(sandbox: PrivateSandbox) -> Iterator[None]:
    """The GPU cluster reported INACTIVE. Not an incident the sandbox offers as a fault: ECS deletes a
    cluster only once its services and container instances are gone, which the sandbox's agent cannot
    bring back. moto's delete-cluster marks it INACTIVE with everything in place, which is enough to
    show the check's message; create-cluster from the manifest makes it ACTIVE again (moto's new cluster
    object counts no instances or services, which no gate check reads)."""
    ecs = sandbox.aws("ecs")
    ecs.delete_cluster(cluster=aws_names.GPU_CLUSTER)
    try:
        yield
    finally:
        ecs.create_cluster(**next(c for c in read_json(CLUSTERS_FILE) if c["clusterName"] == aws_names.GPU_CLUSTER))


RULES = "test_secrets.py::test_secret_exists_and_passes_the_manifests_rules"
REDIS_CLIENT_CHECKS = tuple(f"test_redis.py::{name}" for name in (
    "test_redis_never_evicts_queue_keys", "test_redis_persists_with_append_only_file",
    "test_redis_publishes_the_keyspace_events_the_gate_follows", "test_redis_has_a_memory_limit_with_room_left"))
DATABASE_CLIENT_CHECKS = ("test_database.py::*",)

FAULTS = [
    Fault("missing-secret", "preflight", (f"{RULES}[filot/production/stack-auth]",),
          "secret filot/production/stack-auth: expected to exist in Secrets Manager"),
    Fault("default-jwt-secret", "preflight", ("test_secrets.py::test_jwt_secret_is_long_and_not_a_known_default",
                                              f"{RULES}[filot/production/jwt-secret]"),
          "JWT_SECRET (secret filot/production/jwt-secret): expected a strong random value"),
    Fault("aws-account-id-wrong", "preflight", ("test_secrets.py::test_aws_account_id_is_the_account_the_deployed_task_definitions_use",),
          "AWS_ACCOUNT_ID (secret filot/production/aws-account-id): expected"),
    Fault("redis-not-tls", "preflight", ("test_redis.py::test_redis_url_uses_tls_scheme",
                                         "test_redis.py::test_redis_answers_over_tls_and_requires_auth",
                                         f"{RULES}[filot/production/redis]"),
          "expected scheme rediss:// (TLS), got redis://", errors=REDIS_CLIENT_CHECKS),
    Fault("redis-no-auth", "preflight", ("test_redis.py::test_redis_answers_over_tls_and_requires_auth",),
          "answered PING without a password"),
    Fault("redis-eviction-policy", "preflight", ("test_redis.py::test_redis_never_evicts_queue_keys",),
          "expected noeviction (queue keys must never be evicted), got allkeys-lru"),
    Fault("redis-nearly-full", "preflight", ("test_redis.py::test_redis_has_a_memory_limit_with_room_left",),
          "Redis memory: expected at most 80% of maxmemory"),
    Fault("redis-aof-off", "preflight", ("test_redis.py::test_redis_persists_with_append_only_file",),
          "Redis appendonly: expected yes"),
    Fault("redis-keyspace-events-off", "preflight",
          ("test_redis.py::test_redis_publishes_the_keyspace_events_the_gate_follows",), "Redis notify-keyspace-events"),
    Fault("database-credentials-wrong", "preflight",
          ("test_database.py::test_database_answers_with_the_secrets_credentials",),
          "expected to accept a connection with DATABASE_URL's credentials", errors=DATABASE_CLIENT_CHECKS,
          make=database_password_rotated_without_the_secret),
    Fault("storage-bucket-secret-wrong", "preflight",
          ("test_storage.py::test_bucket_takes_the_secrets_credentials_and_serves_a_presigned_download",),
          "bucket filot-documents-renamed (secret filot/production/cf-r2): expected to take an object with the secret's"
          " credentials (S3 PutObject), got NoSuchBucket"),
    Fault("epr-database-password-wrong", "preflight", ("test_epr_stores.py::test_epr_database_answers_with_the_secrets_credentials",),
          "expected to accept a connection with EPR_DATABASE_URL's credentials (secret filot/production/epr)"),
    Fault("epr-redis-token-wrong", "preflight", ("test_epr_stores.py::test_epr_redis_answers_ping_with_the_secrets_token",),
          "got 401 {\"error\": \"Unauthorized\"}: the token in the secret is not the database's"),
    Fault("temporal-namespace-wrong", "preflight",
          ("test_temporal_connection.py::test_temporal_namespace_answers_with_the_secrets_credentials",),
          "namespace 'filot-production': Namespace filot-production is not found"),
    Fault("migration-missing", "preflight", ("test_database.py::test_every_migration_of_the_release_is_applied",),
          "pending: 0001_core_schema"),
    Fault("table-missing", "preflight", ("test_database.py::test_core_tables_exist_with_primary_keys",
                                         "test_database.py::test_foreign_keys_tie_documents_to_users_results_and_reviews"),
          "missing: manual_reviews"),
    Fault("foreign-key-missing", "preflight",
          ("test_database.py::test_foreign_keys_tie_documents_to_users_results_and_reviews",),
          "missing: verification_results.document_id -> documents.id"),
    Fault("status-check-missing", "preflight",
          ("test_database.py::test_document_status_is_constrained_to_the_contracts_statuses",),
          "expected a CHECK constraint on documents.verification_status"),
    Fault("wal-archiving-failing", "preflight", ("test_database.py::test_database_backups_are_configured",),
          "database backups: WAL archiving is failing"),
    Fault("container-insights-off", "preflight",
          ("test_clusters.py::test_ecs_cluster_is_set_up_as_its_manifest_says[filot-ocr-gpu-cluster]",),
          "ECS cluster filot-ocr-gpu-cluster: expected the configuration of infra/ecs/cluster.json; cluster settings"),
    Fault("deploy-peak-over-database-limit", "preflight",
          ("test_database.py::test_database_accepts_every_connection_the_services_may_open_at_a_deploy_s_peak",),
          "filot-backend-service: 40 task(s) x 10 = 400"),
    Fault("ecr-repository-missing", "preflight", ("test_ecr.py::test_ecr_repository_exists[filot-ocr-gpu-worker]",
                                                  "test_ecr.py::test_deployed_image_digest_exists_in_ecr[ocr-gpu]"),
          "ECR repository filot-ocr-gpu-worker: expected to exist"),
    Fault("image-missing", "preflight", ("test_ecr.py::test_deployed_image_digest_exists_in_ecr[backend]",),
          "expected the image to exist"),
    Fault("gpu-cluster-inactive", "preflight", (f"test_clusters.py::test_ecs_cluster_is_active[{aws_names.GPU_CLUSTER}]",),
          "expected status ACTIVE, got INACTIVE", make=gpu_cluster_marked_inactive),
    Fault("asg-instance-unhealthy", "preflight", ("test_asg.py::test_gpu_asg_has_an_in_service_healthy_instance",),
          "expected at least 1 InService Healthy instance"),
    Fault("worker-down", "preflight", ("test_asg.py::test_gpu_cluster_has_an_active_container_instance_with_its_agent_connected",),
          "expected at least 1 ACTIVE container instance with its ECS agent connected"),
    Fault("launch-template-not-gpu", "preflight",
          ("test_asg.py::test_gpu_asg_launches_the_manifests_gpu_instances_into_the_gpu_cluster",),
          "differs in: InstanceType 'm5.xlarge' (manifest 'g5.xlarge')"),
    Fault("instance-profile-missing", "preflight",
          ("test_asg.py::test_gpu_instances_launch_with_the_ecs_instance_profile",), "expected role ecsInstanceRole"),
    Fault("epr-task-role-without-sqs", "preflight",
          ("test_iam.py::test_epr_task_role_may_consume_the_audit_queue_and_publish_document_events",),
          "expected its policies (SNSPublish, ECSExec) to allow sqs:ReceiveMessage"),
    Fault("epr-task-role-sqs-full-access", "preflight",
          (f"test_iam.py::test_iam_role_grants_no_more_than_the_manifest_declares[{aws_names.EPR_TASK_ROLE}]",),
          "it also grants sqs:* on * (AmazonSQSFullAccess)"),
    Fault("execution-role-cannot-read-secrets", "preflight",
          tuple(f"test_iam.py::test_execution_role_lets_ecs_start_the_deployed_tasks[{key}]" for key in aws_names.SERVICES),
          "to allow secretsmanager:GetSecretValue on arn:aws:secretsmanager:"),
    Fault("gate-role-cannot-list-revisions", "preflight", ("test_iam.py::test_gate_role_may_roll_back_every_service",),
          f"expected role {aws_names.GATE_ROLE} to allow what a rollback (mode plan) of a no-go asks ECS for; it refuses"
          " ecs:ListTaskDefinitions on *, so a no-go"),
    Fault("document-topic-missing", "preflight", (f"test_messaging.py::test_sns_topic_exists[{aws_names.EPR_DOCUMENT_TOPIC}]",),
          f"SNS topic arn:aws:sns:ap-southeast-2:070017891928:{aws_names.EPR_DOCUMENT_TOPIC}: expected to exist"),
    Fault("audit-queue-unsubscribed", "preflight", ("test_messaging.py::test_audit_queue_is_subscribed_to_the_audit_topic",),
          f"expected a confirmed sqs subscription delivering to arn:aws:sqs:ap-southeast-2:070017891928:{aws_names.EPR_AUDIT_QUEUE}"),
    Fault("audit-queue-closed-to-the-topic", "preflight", ("test_messaging.py::test_audit_queue_lets_the_audit_topic_deliver",),
          "got no policy"),
    Fault("epr-api-open-to-the-internet", "preflight",
          ("test_network.py::test_epr_api_takes_port_8080_from_its_load_balancer_only",), "also open: tcp 8080 with 0.0.0.0/0"),
    Fault("epr-egress-open", "preflight",
          ("test_network.py::test_epr_tasks_reach_out_only_to_postgres_redis_and_https",), "also open: all traffic with 0.0.0.0/0"),
    Fault("iam-role-missing", "preflight", ("test_iam.py::test_iam_role_exists[ecsInfrastructureRoleForManagedInstances]",),
          "IAM role ecsInfrastructureRoleForManagedInstances: expected to exist"),
    Fault("epr-deployed-without-audit-queue", "preflight",
          ("test_manifests.py::test_deployed_task_definition_follows_the_manifest_rules[epr]",),
          "container audit-worker: required variables EPR_AUDIT_SQS_URL not set",
          make=lambda sandbox: deployed(sandbox, "epr", "EPR_AUDIT_SQS_URL=")),
    Fault("deploy-plaintext-secret", "preflight",
          ("test_manifests.py::test_deployed_task_definition_follows_the_manifest_rules[backend]",),
          "secrets JWT_SECRET set in plain environment",
          make=lambda sandbox: deployed(sandbox, "backend", "JWT_SECRET=set-in-plain-environment")),
]


def test_healthy_sandbox_passes_preflight_and_infra(sandbox, profile, tmp_path):
    assert_go(sandbox, profile, tmp_path)


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_fault_fails_exactly_its_check(sandbox, profile, tmp_path, fault):
    assert_fails_exactly_its_check(sandbox, profile, tmp_path, fault)


def test_a_deploy_stops_on_the_reason_ecs_gives_while_the_execution_role_cannot_read_secrets(sandbox):
    """The sandbox's agent asks IAM what ECS asks before a task starts: the new tasks stop with ECS's
    ResourceInitializationError, the circuit breaker rolls back, and the deploy's error quotes the reason."""
    with named_fault(sandbox, "execution-role-cannot-read-secrets"):
        result = run_sandbox_cli(sandbox, "deploy", "--service", "epr")
    sandbox_cli(sandbox, "deploy", "--service", "epr")  # the manifest's revision again, as an operator would
    output = result.stdout + result.stderr
    assert result.returncode != 0, f"the deploy succeeded without its secrets:\n{output[-3000:]}"
    assert "stopped task: ResourceInitializationError" in output and "secretsmanager:GetSecretValue" in output, output[-3000:]


# --- a managed Redis that shows less through CONFIG GET ------------------------------------------


REDIS_CONFIG_CHECKS = {
    "maxmemory-policy": "test_redis_never_evicts_queue_keys",
    "appendonly": "test_redis_persists_with_append_only_file",
    "notify-keyspace-events": "test_redis_publishes_the_keyspace_events_the_gate_follows",
    "maxmemory": "test_redis_has_a_memory_limit_with_room_left",
}


@contextmanager
def redis_user_without_config(sandbox: PrivateSandbox) -> Iterator[str]:
    """A Redis user that may run everything but CONFIG, as a managed Redis's users are; yields its URL."""
    user, password = "gate-managed", uuid.uuid4().hex
    client = sandbox.redis()
    client.acl_setuser(user, enabled=True, passwords=[f"+{password}"], keys=["*"], channels=["*"],
                       commands=["+@all", "-config"])
    try:
        yield f"rediss://{user}:{password}@127.0.0.1:{sandbox.env['FILOT_SANDBOX_REDIS_PORT']}"
    finally:
        client.acl_deluser(user)


def redis_profile(profile: Path, tmp_path: Path, provider: str, redis_url: str | None = None) -> Path:
    text = profile.read_text() + f'[redis]\nprovider = "{provider}"\n'
    if redis_url:
        text = text.replace("[target]\n", f'[target]\nredis_url = "{redis_url}"\n', 1)
    path = tmp_path / f"{provider}.toml"
    path.write_text(text)
    return path


def redis_outcomes(summary: dict) -> dict[str, str]:
    """Outcome of each Redis CONFIG check, by test name ("passed" where the gate listed no failure)."""
    gate = summary["gates"]["preflight"]
    outcomes = dict.fromkeys(REDIS_CONFIG_CHECKS.values(), "passed")
    outcomes.update({f["test"].rsplit("::", 1)[-1]: f["outcome"] for f in gate["failures"]})
    return outcomes


def test_upstash_provider_checks_what_config_get_shows(sandbox, profile, tmp_path):
    result, summary = run_gate(sandbox, redis_profile(profile, tmp_path, "upstash"), tmp_path / "reports",
                               "preflight", "tests/preflight/test_redis.py")
    assert summary["verdict"] == "go", result.stdout[-3000:]
    assert summary["gates"]["preflight"]["counts"]["skipped"] == 0, summary["gates"]["preflight"]["skipReasons"]


@pytest.mark.parametrize(("provider", "skipped", "inconclusive"), [
    ("upstash", ("maxmemory-policy", "appendonly", "maxmemory"), ("notify-keyspace-events",)),
    ("self-managed", (), tuple(REDIS_CONFIG_CHECKS)),
])
def test_config_get_refused_skips_what_the_provider_hides_and_is_inconclusive_otherwise(
        sandbox, profile, tmp_path, provider, skipped, inconclusive):
    with redis_user_without_config(sandbox) as url:
        result, summary = run_gate(sandbox, redis_profile(profile, tmp_path, provider, url), tmp_path / "reports",
                                   "preflight", "tests/preflight/test_redis.py")
    gate = summary["gates"]["preflight"]
    context = f"provider {provider}: {gate}\n{result.stdout[-3000:]}"
    assert (summary["verdict"], gate["status"]) == ("inconclusive", "error"), context
    outcomes = redis_outcomes(summary)
    assert {p for p in REDIS_CONFIG_CHECKS if outcomes[REDIS_CONFIG_CHECKS[p]] == "error"} == set(inconclusive), context
    for parameter in skipped:
        assert any(f"Redis provider upstash does not expose {parameter}" in r for r in gate["skipReasons"]), context
    assert gate["counts"]["skipped"] == len(skipped), context
    messages = "\n".join(f["message"] for f in gate["failures"])
    assert f"profile [redis] provider = '{provider}'" in messages, messages


# --- a database whose provider keeps the backups itself -------------------------------------------


def test_neon_backups_are_skipped_naming_the_console_setting_to_confirm(sandbox, profile, tmp_path):
    neon = tmp_path / "neon.toml"
    neon.write_text(profile.read_text() + '[database]\nbackups = "neon"\n')
    with named_fault(sandbox, "wal-archiving-failing"):  # WAL archiving is not how Neon backs up: not judged
        result, summary = run_gate(sandbox, neon, tmp_path / "reports", "preflight",
                                   "tests/preflight/test_database.py::test_database_backups_are_configured")
    gate = summary["gates"]["preflight"]
    assert summary["verdict"] == "inconclusive" and gate["counts"]["skipped"] == 1, f"{gate}\n{result.stdout[-3000:]}"
    assert gate["skipReasons"] == [f"[database] backups = 'neon': {BACKUP_METHODS['neon']}"], gate["skipReasons"]


def test_every_heal_left_the_sandbox_passing_preflight_and_infra(sandbox, profile, tmp_path):
    assert_go(sandbox, profile, tmp_path)
