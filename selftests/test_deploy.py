"""Deploy, rollback and re-queue against real endpoints: moto server (the sandbox's AWS) and redis-server.

moto does not run tasks, so where a test needs ECS to finish a rollout it plays the ECS scheduler
itself (``finish_rollout``), the way the sandbox's agent does from real processes.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from filot_contract import aws_names, redis_keys
from filot_gate import deploy
from filot_gate.deploy.__main__ import main
from filot_gate.manifests import load_alarms, load_image_versions, load_secrets_manifest
from sandbox.aws_seed import SeedResult, seed
from selftests.services import RedisServer, free_port, fresh_redis, redis_server  # noqa: F401  (fixtures by name)

#: An account of its own, so that other moto users in this process never see these resources.
ACCOUNT = "210987654321"
REGION = "ap-southeast-2"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as env:
        env.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
        env.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        env.setenv("AWS_ACCESS_KEY_ID", "selftest")
        env.setenv("AWS_SECRET_ACCESS_KEY", "selftest")
        env.delenv("AWS_PROFILE", raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
        server.stop()


def valid_secret_values(endpoint: str) -> dict[str, Any]:
    token = lambda n=48: secrets.token_urlsafe(n)  # noqa: E731
    return {
        "filot/production/jwt-secret": token(),
        "filot/production/session-secret": token(),
        "filot/production/service-internal-key": token(),
        "filot/production/database-url": "postgresql://filot:pw@127.0.0.1:5433/filot",
        "filot/production/redis": {"REDIS_URL": "rediss://127.0.0.1:6380/0", "REDIS_PASSWORD": token(24)},
        "filot/production/cf-r2": {"CF_R2_ACCESS_KEY_ID": "AKSELFTEST" + secrets.token_hex(8), "CF_R2_SECRET_ACCESS_KEY": token(),
                                   "CF_R2_BUCKET_NAME": "filot-documents-selftest", "CF_R2_ENDPOINT": endpoint},
        "filot/production/cf-account-id": secrets.token_hex(16),
        "filot/production/buli2": {"BULI2_API_KEY": token(32), "BULI2_SIGNATURE_SECRET": token(),
                                   "BULI2_API_URL": "http://127.0.0.1:8090", "BULI2_CALLBACK_URL": "http://127.0.0.1:8000/internal/reviews"},
        "filot/production/stack-auth": {"STACK_PROJECT_ID": "selftest-" + secrets.token_hex(4), "STACK_SECRET_SERVER_KEY": token(),
                                        "STACK_PUBLISHABLE_CLIENT_KEY": token(24)},
        "filot/production/aws-account-id": ACCOUNT,
        "filot/production/epr": {"EPR_DATABASE_URL": "postgresql://filot:pw@127.0.0.1:5433/filot",
                                 "EPR_REDIS_URL": "https://127.0.0.1:6380", "EPR_REDIS_TOKEN": token(32)},
    }


@pytest.fixture(scope="module")
def seeded(moto_url: str) -> SeedResult:
    return seed(moto_url, REGION, ACCOUNT, valid_secret_values(moto_url), {"ocr-gpu": {"OCR_GPU_AUTOFALLBACK": "true"}})


@pytest.fixture(scope="module")
def aws(moto_url: str) -> Any:
    session = boto3.session.Session(region_name=REGION, aws_access_key_id="selftest", aws_secret_access_key="selftest")
    return lambda name: session.client(name, endpoint_url=moto_url)


def live(aws: Any, key: str) -> dict[str, Any]:
    cluster, service, _, _ = aws_names.SERVICES[key]
    return aws("ecs").describe_services(cluster=cluster, services=[service])["services"][0]


def finish_rollout(key: str, failed: bool = False, state: str | None = None) -> None:
    """Play the ECS scheduler: the service's tasks are all on its task definition, rollout COMPLETED (or
    FAILED, or the ``state`` given)."""
    from moto.backends import get_backend

    cluster, name, _, _ = aws_names.SERVICES[key]
    service = get_backend("ecs")[ACCOUNT][REGION].services[f"{cluster}:{name}"]
    service.running_count = 0 if failed else service.desired_count
    state = state or ("FAILED" if failed else "COMPLETED")
    service.deployments = [dict(service.deployments[0], taskDefinition=service.task_definition, status="PRIMARY",
                                runningCount=service.running_count, rolloutState=state,
                                rolloutStateReason=f"ECS deployment {state.lower()} (selftest)")]


def test_seed_builds_the_manifests_state(seeded: SeedResult, aws: Any) -> None:
    assert seeded.notes == []
    ecs = aws("ecs")
    versions = load_image_versions()
    for key, (cluster, _, family, _) in aws_names.SERVICES.items():
        previous, current = seeded.task_definitions[key]
        images = [ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["containerDefinitions"][0]["image"]
                  for arn in (previous, current)]
        repo = images[0].split("/")[-1].split("@")[0]
        assert [i.rsplit("@", 1)[1] for i in images] == [versions[repo].previous.digest, versions[repo].current.digest]
        service = live(aws, key)
        assert service["taskDefinition"] == current
        assert service["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    for repo, v in versions.items():
        details = aws("ecr").describe_images(repositoryName=repo)["imageDetails"]
        assert {d["imageDigest"] for d in details} == {v.current.digest, v.previous.digest}
    instance = ecs.describe_container_instances(cluster=aws_names.GPU_CLUSTER,
                                                containerInstances=[seeded.container_instance_arn])["containerInstances"][0]
    assert {"name": "ecs.instance-type", "value": "g5.xlarge"} in instance["attributes"]
    gpus = [r for r in instance["registeredResources"] if r["name"] == "GPU"]
    assert len(gpus) == 1 and len(gpus[0]["stringSetValue"]) == 1
    group = aws("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[aws_names.GPU_ASG])["AutoScalingGroups"][0]
    assert [i["LifecycleState"] for i in group["Instances"]] == ["InService"]
    target_group = aws("elbv2").describe_target_groups(TargetGroupArns=[seeded.target_group_arn])["TargetGroups"][0]
    assert target_group["HealthCheckPath"] == "/health"
    groups = aws("logs").describe_log_groups(logGroupNamePrefix="/ecs/filot-")["logGroups"]
    assert {g["logGroupName"]: g["retentionInDays"] for g in groups if g["logGroupName"] in
            (aws_names.BACKEND_LOG_GROUP, aws_names.GPU_LOG_GROUP)} == {aws_names.BACKEND_LOG_GROUP: 90, aws_names.GPU_LOG_GROUP: 90}
    alarm_names = {a["AlarmName"] for a in aws("cloudwatch").describe_alarms()["MetricAlarms"]}
    assert {a["AlarmName"] for a in load_alarms(seeded.params)} <= alarm_names
    required = {s.id for s in load_secrets_manifest().secrets if s.required}
    assert required <= set(deploy.secret_arns(aws("secretsmanager")))
    assert aws("iam").list_attached_role_policies(RoleName="ecsTaskExecutionRole")["AttachedPolicies"]
    audit_topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:{aws_names.EPR_AUDIT_TOPIC}"
    (subscription,) = aws("sns").list_subscriptions_by_topic(TopicArn=audit_topic)["Subscriptions"]
    assert subscription["Endpoint"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:{aws_names.EPR_AUDIT_QUEUE}"


def test_seed_again_reuses_everything(seeded: SeedResult, moto_url: str) -> None:
    again = seed(moto_url, REGION, ACCOUNT, valid_secret_values(moto_url), {"ocr-gpu": {"OCR_GPU_AUTOFALLBACK": "true"}})
    assert (again.task_definitions, again.services, again.container_instance_arn, again.target_group_arn) == (
        seeded.task_definitions, seeded.services, seeded.container_instance_arn, seeded.target_group_arn)


def test_seed_refuses_secret_values_that_break_the_rules(seeded: SeedResult, moto_url: str) -> None:
    values = valid_secret_values(moto_url)
    values["filot/production/jwt-secret"] = "changeme"
    values["filot/production/redis"]["REDIS_URL"] = "redis://127.0.0.1:6380/0"
    with pytest.raises(Exception, match=r"JWT_SECRET is a known default value.*REDIS_URL must use scheme rediss://") as info:
        seed(moto_url, REGION, ACCOUNT, values, {})
    assert "changeme" not in str(info.value)


def test_seed_refuses_a_moto_of_another_account(seeded: SeedResult, moto_url: str) -> None:
    with pytest.raises(Exception, match=f"answers for account {ACCOUNT}, expected 111111111111; start it with MOTO_ACCOUNT_ID"):
        seed(moto_url, REGION, "111111111111", {}, {})


@pytest.fixture
def deployed(seeded: SeedResult, moto_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Deploy both services through the CLI with one run id, as the runbook does; yields the record path."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "selftest")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "selftest")
    ecs = boto3.client("ecs", endpoint_url=moto_url, region_name=REGION)
    desired = {}
    for key, (cluster, service, _, _) in aws_names.SERVICES.items():
        finish_rollout(key)
        desired[key] = ecs.describe_services(cluster=cluster, services=[service])["services"][0]["desiredCount"]
    record = tmp_path / "deploy-record.json"
    for key in aws_names.SERVICES:
        code = main(["deploy", "--service", key, "--record", str(record), "--run-id", "selftest-run",
                     "--endpoint-url", moto_url, "--region", REGION, "--no-wait"])
        assert code == 0, capsys.readouterr().err
    yield record
    for key, (cluster, service, _, _) in aws_names.SERVICES.items():  # back to the seeded state for the next test
        ecs.update_service(cluster=cluster, service=service, taskDefinition=seeded.task_definitions[key][1],
                           desiredCount=desired[key])
        ecs.deregister_task_definition(taskDefinition=deploy.load_record(record).services[key].task_definition_arn)


def test_deploy_refuses_a_corrupt_record_before_it_changes_the_service(seeded: SeedResult, aws: Any, moto_url: str,
                                                                       tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "selftest")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "selftest")
    record = tmp_path / "deploy-record.json"
    record.write_text('{"runId": "an-earlier-run", "services": {')  # cut off mid-write
    before = live(aws, "backend")["taskDefinition"]
    code = main(["deploy", "--service", "backend", "--record", str(record), "--endpoint-url", moto_url, "--region", REGION, "--no-wait"])
    err = capsys.readouterr().err
    assert code == 2 and f"deploy record {record}: not a deploy record" in err, f"deploy: expected exit 2 naming the record, got {code}: {err}"
    assert live(aws, "backend")["taskDefinition"] == before, "the service was deployed although its record could not be written"


def test_deploy_writes_the_record(deployed: Path, seeded: SeedResult, aws: Any) -> None:
    record = json.loads(deployed.read_text())
    assert set(record) == {"runId", "createdAt", "region", "services"}
    assert (record["runId"], record["region"], set(record["services"])) == ("selftest-run", REGION, set(aws_names.SERVICES))
    versions = load_image_versions()
    for key, entry in record["services"].items():
        cluster, service, family, container = aws_names.SERVICES[key]
        assert entry["previousTaskDefinitionArn"] == seeded.task_definitions[key][1]
        assert (entry["cluster"], entry["service"], entry["family"]) == (cluster, service, family)
        assert live(aws, key)["taskDefinition"] == entry["taskDefinitionArn"] != entry["previousTaskDefinitionArn"]
        taskdef = aws("ecs").describe_task_definition(taskDefinition=entry["taskDefinitionArn"])["taskDefinition"]
        image = taskdef["containerDefinitions"][0]["image"]
        repo = image.split("/")[-1].split("@")[0]
        assert entry["imageDigest"] == versions[repo].current.digest and image.endswith("@" + entry["imageDigest"])
        assert all(s["valueFrom"].split(":")[6].startswith("filot/production/") for s in taskdef["containerDefinitions"][0]["secrets"])


def test_plan_rollback_names_the_previous_arn(deployed: Path, seeded: SeedResult, aws: Any) -> None:
    record = deploy.load_record(deployed)
    backend = record.services["backend"]
    (call,) = deploy.plan_rollback(aws("ecs"), backend)
    previous = seeded.task_definitions["backend"][1]
    assert call.cli() == (f"aws ecs update-service --cluster filot-backend-cluster --service filot-backend-service "
                          f"--task-definition {previous} --region {REGION}")
    assert live(aws, "backend")["taskDefinition"] == backend.task_definition_arn, "planning changed nothing"
    # without a recorded previous ARN: the newest older ACTIVE revision of the family
    unrecorded = {**backend.to_json(), "previousTaskDefinitionArn": None}
    assert deploy.plan_rollback(aws("ecs"), unrecorded)[0].params["taskDefinition"] == previous


def test_execute_rolls_back_and_waits_for_stability(deployed: Path, seeded: SeedResult, aws: Any) -> None:
    ecs = aws("ecs")
    backend = deploy.load_record(deployed).services["backend"]
    calls = deploy.plan_rollback(ecs, backend)
    deploy.execute(ecs, calls)
    assert live(aws, "backend")["taskDefinition"] == backend.previous_task_definition_arn
    finish_rollout("backend")
    lines: list[str] = []
    state = deploy.wait_for_stable(ecs, backend.cluster, backend.service, **deploy.expected_after(calls),
                                   deadline_s=10, poll_s=0.2, progress=lines.append)
    assert state.stable and lines[-1].startswith("filot-backend-service stable on filot-backend-task:2: reached")
    assert deploy.plan_rollback(ecs, backend) == [], "a second rollback has nothing to undo"


def test_rollback_refuses_a_state_nobody_recorded(deployed: Path, seeded: SeedResult, aws: Any) -> None:
    backend = deploy.load_record(deployed).services["backend"]
    aws("ecs").update_service(cluster=backend.cluster, service=backend.service, taskDefinition=seeded.task_definitions["backend"][0])
    with pytest.raises(deploy.RollbackRefused, match="neither the deployed"):
        deploy.plan_rollback(aws("ecs"), backend)


def test_gpu_worker_scale_to_zero(deployed: Path, aws: Any, capsys: pytest.CaptureFixture[str], moto_url: str) -> None:
    code = main(["rollback", "--service", "ocr-gpu", "--scale-to-zero", "--plan", "--endpoint-url", moto_url, "--region", REGION])
    assert code == 0
    assert ("plan: aws ecs update-service --cluster filot-ocr-gpu-cluster --service filot-ocr-gpu-service "
            f"--desired-count 0 --region {REGION}") in capsys.readouterr().out
    assert live(aws, "ocr-gpu")["desiredCount"] == 1, "--plan changed nothing"
    assert main(["rollback", "--service", "ocr-gpu", "--scale-to-zero", "--deadline", "10",
                 "--endpoint-url", moto_url, "--region", REGION]) == 0
    assert (live(aws, "ocr-gpu")["desiredCount"], live(aws, "ocr-gpu")["runningCount"]) == (0, 0)


def test_scale_to_zero_refuses_a_worker_already_back_on_another_revision(deployed: Path, seeded: SeedResult, aws: Any) -> None:
    gpu = deploy.load_record(deployed).services["ocr-gpu"]
    aws("ecs").update_service(cluster=gpu.cluster, service=gpu.service, taskDefinition=seeded.task_definitions["ocr-gpu"][0])
    with pytest.raises(deploy.RollbackRefused, match="not the deployed .* left alone"):
        deploy.plan_rollback(aws("ecs"), gpu, strategy="scale-to-zero")
    assert live(aws, "ocr-gpu")["desiredCount"] == 1, "the working worker was scaled down"


def test_wait_gives_up_at_the_deadline_with_the_last_state(deployed: Path, aws: Any) -> None:
    backend = deploy.load_record(deployed).services["backend"]
    lines: list[str] = []
    started = time.monotonic()
    with pytest.raises(deploy.StabilityTimeout, match=r"not reached within 1s; last seen primary=filot-backend-task:\d+ "):
        deploy.wait_for_stable(aws("ecs"), backend.cluster, backend.service, task_definition=backend.task_definition_arn,
                               deadline_s=1, poll_s=0.2, progress=lines.append)
    assert time.monotonic() - started < 3 and lines and "waiting" in lines[0]


def test_wait_stops_at_a_failed_deployment(deployed: Path, aws: Any) -> None:
    backend = deploy.load_record(deployed).services["backend"]
    finish_rollout("backend", failed=True)
    with pytest.raises(deploy.DeploymentFailed, match="FAILED"):
        deploy.wait_for_stable(aws("ecs"), backend.cluster, backend.service, task_definition=backend.task_definition_arn,
                               deadline_s=10, poll_s=0.2)


def test_wait_stops_when_another_deployment_takes_primary(deployed: Path, seeded: SeedResult, aws: Any) -> None:
    """The circuit breaker rolled back and already dropped the failed deployment: waiting could only time out."""
    backend = deploy.load_record(deployed).services["backend"]
    ecs = aws("ecs")
    ecs.update_service(cluster=backend.cluster, service=backend.service, taskDefinition=backend.task_definition_arn)
    finish_rollout("backend", state="IN_PROGRESS")

    def breaker_rolls_back(line: str) -> None:  # between two polls, as ECS would
        ecs.update_service(cluster=backend.cluster, service=backend.service,
                           taskDefinition=backend.previous_task_definition_arn)
        finish_rollout("backend")

    with pytest.raises(deploy.DeploymentFailed, match=r"is no longer PRIMARY; .* on .*filot-backend-task:\d+ replaced it"):
        deploy.wait_for_stable(ecs, backend.cluster, backend.service, task_definition=backend.task_definition_arn,
                               deadline_s=30, poll_s=0.2, progress=breaker_rolls_back)


def test_deploy_refuses_an_image_missing_from_ecr(seeded: SeedResult, aws: Any, tmp_path: Path) -> None:
    (tmp_path / "image-versions.json").write_text(json.dumps(
        {repo: {"tag": "never-pushed", "digest": "sha256:" + "0" * 64} for repo in load_image_versions()}))
    with pytest.raises(deploy.DeployError, match="never-pushed.*is not in ECR"):
        deploy.resolve_params(sts=aws("sts"), ecr=aws("ecr"), secretsmanager=aws("secretsmanager"), region=REGION, root=tmp_path)


def processing_entry(redis_client: Any, job_id: str, worker: str | None, claimed_at: float | None) -> str:
    raw = json.dumps({"jobId": job_id, "documentId": f"doc-{job_id}", "documentType": "KTP", "bucket": "b",
                      "objectKey": f"k/{job_id}", "enqueuedAt": "2025-11-30T00:00:00.000Z", "traceId": job_id})
    redis_client.rpush(redis_keys.OCR_PROCESSING, raw)
    if worker:
        redis_client.hset(redis_keys.OCR_CLAIMS, job_id, json.dumps({"workerId": worker, "claimedAt": claimed_at}))
    return raw


def test_requeue_stuck_jobs_dry_run_then_real(fresh_redis: RedisServer, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    r = fresh_redis.client()
    r.set(redis_keys.worker_heartbeat("alive"), "{}", ex=60)
    now = time.time()
    dead = processing_entry(r, "dead", "gone", now - 5)
    processing_entry(r, "busy", "alive", now - 5)
    old = processing_entry(r, "old", "alive", now - 3600)
    r.rpush(redis_keys.OCR_PROCESSING, "not json")

    assert main(["requeue-stuck-jobs", "--redis-url", fresh_redis.url, "--older-than", "600", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "job dead document doc-dead: worker gone has no live heartbeat" in out
    assert "job old document doc-old: claimed 3600s ago by live worker alive (limit 600s)" in out
    assert "4 jobs in processing, 2 stuck, would re-queue 2" in out
    assert r.llen(redis_keys.OCR_PROCESSING) == 4 and r.llen(redis_keys.OCR_QUEUE) == 0

    assert main(["requeue-stuck-jobs", "--redis-url", fresh_redis.url, "--older-than", "600"]) == 0
    assert "re-queued 2" in capsys.readouterr().out
    assert r.lrange(redis_keys.OCR_QUEUE, 0, -1) == [dead, old]
    assert len(r.lrange(redis_keys.OCR_PROCESSING, 0, -1)) == 2
    assert set(r.hkeys(redis_keys.OCR_CLAIMS)) == {"busy"}
