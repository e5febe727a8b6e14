"""The sandbox's emulated AWS tells the truth about its real processes: a killed worker is a STOPPED
task with its reason and running < desired until replaced; target health is the real health check's
answer; each task's start-up lines are in its own CloudWatch stream; the metrics the alarms watch
come from the real Redis and ALB, and an alarm follows its metric into ALARM and back to OK.

Checked the way an operator checks AWS (boto3 on the sandbox's endpoint), never through the gate.
One private sandbox for the module; alarm time runs at one second per CloudWatch minute.
"""

from __future__ import annotations

import json
import os
import signal
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import boto3
import httpx
import pytest
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from filot_contract import aws_names, redis_keys
from filot_contract.log_lines import STARTUP_MESSAGES
from sandbox.agent import CIRCUIT_BREAKER_FAILURES
from sandbox.deploy import BAD_ENVIRONMENT
from selftests.sandbox_fixture import PrivateSandbox, start_private_sandbox, stop_private_sandbox

pytestmark = pytest.mark.sandbox

#: Seconds of sandbox time per CloudWatch minute in this module: a 5-period alarm fires in ~5 s.
ALARM_MINUTE_S = 1


@pytest.fixture(scope="module")
def sandbox():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FILOT_SANDBOX_ALARM_MINUTE_S", str(ALARM_MINUTE_S))
        box = start_private_sandbox()
    yield box
    stop_private_sandbox(box)


def controller_tasks(sandbox: PrivateSandbox, key: str) -> list[dict]:
    return json.loads((sandbox.home / "run" / "controller.json").read_text())["services"][key]["tasks"]


def api(sandbox: PrivateSandbox) -> str:
    return f"http://127.0.0.1:{sandbox.env['FILOT_SANDBOX_ALB_PORT']}"


def eventually(read: Callable[[], Any], done: Callable[[Any], bool], awaited: str, deadline_s: float = 60) -> Any:
    """Poll an eventually consistent read; fail naming what was awaited and the last value seen."""
    value = Retrying(stop=stop_after_delay(deadline_s), wait=wait_fixed(0.3), retry=retry_if_result(lambda v: not done(v)),
                     retry_error_callback=lambda state: state.outcome.result())(read)
    assert done(value), f"{awaited}: not within {deadline_s}s; last seen {value!r}"[:3000]
    return value


def describe_service(sandbox: PrivateSandbox, key: str) -> dict:
    cluster, service, _, _ = aws_names.SERVICES[key]
    return sandbox.aws("ecs").describe_services(cluster=cluster, services=[service])["services"][0]


def target_health(sandbox: PrivateSandbox) -> dict[str, dict]:
    elb = sandbox.aws("elbv2")
    arn = elb.describe_target_groups(Names=[aws_names.TARGET_GROUP_NAME])["TargetGroups"][0]["TargetGroupArn"]
    return {d["Target"]["Id"]: d["TargetHealth"] for d in elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]}


def test_alb_metrics_count_what_the_listener_answered(sandbox):
    """First in the module: no request has passed the ALB before these eight."""
    with httpx.Client(base_url=api(sandbox), timeout=10) as http:
        statuses = [http.get("/health").status_code for _ in range(5)] + [http.get("/no-such-route").status_code for _ in range(3)]
    assert statuses == [200] * 5 + [404] * 3
    cw = sandbox.aws("cloudwatch")

    def sums() -> dict[str, float]:
        found = {}
        for name in ("RequestCount", "HTTPCode_Target_2XX_Count", "HTTPCode_Target_4XX_Count"):
            points = cw.get_metric_statistics(Namespace="AWS/ApplicationELB", MetricName=name, StartTime=datetime.now(timezone.utc) - timedelta(hours=1),
                                              EndTime=datetime.now(timezone.utc) + timedelta(minutes=1), Period=3600,
                                              Statistics=["Sum"])["Datapoints"]
            found[name] = sum(p["Sum"] for p in points)
        return found

    assert eventually(sums, lambda s: s["RequestCount"] >= 8, "the ALB's RequestCount for 8 requests", deadline_s=15) == {
        "RequestCount": 8.0, "HTTPCode_Target_2XX_Count": 5.0, "HTTPCode_Target_4XX_Count": 3.0}


def test_a_killed_worker_is_a_stopped_task_with_its_reason_until_replaced(sandbox):
    (worker,) = controller_tasks(sandbox, "ocr-gpu")
    os.kill(worker["pid"], signal.SIGKILL)
    ecs = sandbox.aws("ecs")
    stopped = eventually(lambda: ecs.describe_tasks(cluster=aws_names.GPU_CLUSTER, tasks=[worker["task"]])["tasks"][0],
                         lambda t: t["lastStatus"] == "STOPPED", f"task {worker['task']} STOPPED")
    assert stopped["stoppedReason"] == "Essential container in task exited (exit code 137)", stopped
    assert (stopped["stopCode"], stopped["containers"][0]["exitCode"]) == ("EssentialContainerExited", 137), stopped
    assert stopped["stoppedAt"] >= stopped["startedAt"]
    gap = eventually(lambda: describe_service(sandbox, "ocr-gpu"), lambda s: s["runningCount"] < s["desiredCount"],
                     "runningCount < desiredCount while the replacement starts", deadline_s=10)
    assert gap["pendingCount"] == 1, gap
    healed = eventually(lambda: describe_service(sandbox, "ocr-gpu"), lambda s: s["runningCount"] == s["desiredCount"] == 1,
                        "the replacement task RUNNING")
    messages = [e["message"] for e in healed["events"]]
    assert f"(service {aws_names.GPU_SERVICE}) has stopped 1 running tasks: (task {worker['task']})." in messages, messages
    (replacement,) = controller_tasks(sandbox, "ocr-gpu")
    assert any(m == f"(service {aws_names.GPU_SERVICE}) has started 1 tasks: (task {replacement['task']})." for m in messages)
    running = ecs.list_tasks(cluster=aws_names.GPU_CLUSTER, serviceName=aws_names.GPU_SERVICE, desiredStatus="RUNNING")["taskArns"]
    assert [arn.rsplit("/", 1)[-1] for arn in running] == [replacement["task"]]


def test_a_revision_without_the_service_s_container_stops_each_task_saying_so(sandbox):
    """The agent runs a service's own container (the worker's ``filot-ocr-gpu-worker``); a revision that
    renamed it cannot start: each task STOPPED with the reason, then the circuit breaker's rollback."""
    ecs = sandbox.aws("ecs")
    good = describe_service(sandbox, "ocr-gpu")["taskDefinition"]
    definition = ecs.describe_task_definition(taskDefinition=good)["taskDefinition"]
    containers = [{**c, "name": "renamed-worker"} for c in definition["containerDefinitions"]]
    fields = ("family", "taskRoleArn", "executionRoleArn", "networkMode", "requiresCompatibilities", "cpu", "memory")
    renamed = ecs.register_task_definition(**{f: definition[f] for f in fields if f in definition},
                                           containerDefinitions=containers)["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=aws_names.GPU_CLUSTER, service=aws_names.GPU_SERVICE, taskDefinition=renamed)

    def stopped_of_renamed() -> list[dict]:
        arns = ecs.list_tasks(cluster=aws_names.GPU_CLUSTER, serviceName=aws_names.GPU_SERVICE, desiredStatus="STOPPED")["taskArns"]
        found = ecs.describe_tasks(cluster=aws_names.GPU_CLUSTER, tasks=arns)["tasks"] if arns else []
        return [t for t in found if t["taskDefinitionArn"] == renamed]

    stopped = eventually(stopped_of_renamed, bool, f"a task of {renamed.rsplit('/', 1)[-1]} STOPPED")
    assert stopped[0]["stoppedReason"] == (
        f"InvalidParameterException: the service's container {aws_names.GPU_CONTAINER} is not in"
        f" {renamed.rsplit('/', 1)[-1]} (its containers: renamed-worker)"), stopped[0]
    back = eventually(lambda: describe_service(sandbox, "ocr-gpu"),
                      lambda s: s["taskDefinition"] == good and s["runningCount"] == 1,
                      "the circuit breaker's rollback to the good revision, running")
    messages = [e["message"] for e in back["events"]]
    assert any(m.endswith(f"deployment circuit breaker: rolling back to {good.rsplit('/', 1)[-1]}.") for m in messages), messages


def test_with_the_breaker_off_a_failing_deployment_stays_in_progress_as_ecs_leaves_it(sandbox):
    """Real ECS marks a deployment FAILED only through the circuit breaker; with it off, the launches of the
    failing revision go on (throttled) and the deployment stays IN_PROGRESS, which is what the gate's
    'primary deployment completed' check sees."""
    ecs = sandbox.aws("ecs")
    service = describe_service(sandbox, "ocr-gpu")
    good, configuration = service["taskDefinition"], service["deploymentConfiguration"]
    definition = ecs.describe_task_definition(taskDefinition=good)["taskDefinition"]
    (name, value), = BAD_ENVIRONMENT["ocr-gpu"].items()
    containers = [{**c, "environment": [e for e in c.get("environment", []) if e["name"] != name] + [{"name": name, "value": value}]}
                  for c in definition["containerDefinitions"]]
    fields = ("family", "taskRoleArn", "executionRoleArn", "networkMode", "requiresCompatibilities", "cpu", "memory")
    failing = ecs.register_task_definition(**{f: definition[f] for f in fields if f in definition},
                                           containerDefinitions=containers)["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster=aws_names.GPU_CLUSTER, service=aws_names.GPU_SERVICE, taskDefinition=failing,
                       deploymentConfiguration={**configuration, "deploymentCircuitBreaker": {"enable": False, "rollback": False}})
    try:
        def stopped_of_failing() -> list[dict]:
            arns = ecs.list_tasks(cluster=aws_names.GPU_CLUSTER, serviceName=aws_names.GPU_SERVICE, desiredStatus="STOPPED")["taskArns"]
            found = ecs.describe_tasks(cluster=aws_names.GPU_CLUSTER, tasks=arns)["tasks"] if arns else []
            return [t for t in found if t["taskDefinitionArn"] == failing]

        eventually(stopped_of_failing, lambda stopped: len(stopped) > CIRCUIT_BREAKER_FAILURES,
                   f"more than {CIRCUIT_BREAKER_FAILURES} failed tasks of {failing.rsplit('/', 1)[-1]} (launches go on)")
        now = describe_service(sandbox, "ocr-gpu")
        assert now["taskDefinition"] == failing, now["taskDefinition"]
        assert [d.get("rolloutState") for d in now["deployments"] if d["status"] == "PRIMARY"] == ["IN_PROGRESS"], now["deployments"]
    finally:
        ecs.update_service(cluster=aws_names.GPU_CLUSTER, service=aws_names.GPU_SERVICE, taskDefinition=good,
                           deploymentConfiguration=configuration)
    eventually(lambda: describe_service(sandbox, "ocr-gpu"), lambda s: s["runningCount"] == 1 and all(
        d.get("rolloutState") == "COMPLETED" for d in s["deployments"] if d["status"] == "PRIMARY"), "the worker back, COMPLETED")


def test_target_health_is_the_answer_to_the_target_groups_health_check(sandbox):
    frozen, serving = controller_tasks(sandbox, "backend")
    os.killpg(frozen["pid"], signal.SIGSTOP)  # a hung API process: alive, answering nothing
    try:
        seen = eventually(lambda: target_health(sandbox), lambda h: h[frozen["ip"]]["State"] == "unhealthy",
                          f"target {frozen['ip']} unhealthy")
        assert (seen[frozen["ip"]]["Reason"], seen[serving["ip"]]["State"]) == ("Target.Timeout", "healthy"), seen
        answers = [httpx.get(f"{api(sandbox)}/health", timeout=10).status_code for _ in range(4)]
        assert answers == [200] * 4, f"the ALB must route only to the healthy target; got {answers}"
    finally:
        os.killpg(frozen["pid"], signal.SIGCONT)
    eventually(lambda: target_health(sandbox), lambda h: h[frozen["ip"]]["State"] == "healthy", f"target {frozen['ip']} healthy again")
    elb = sandbox.aws("elbv2")
    arn = elb.describe_target_groups(Names=[aws_names.TARGET_GROUP_NAME])["TargetGroups"][0]["TargetGroupArn"]
    elb.modify_target_group(TargetGroupArn=arn, HealthCheckPath="/no-such-route")
    try:
        seen = eventually(lambda: target_health(sandbox), lambda h: all(t["State"] == "unhealthy" for t in h.values()),
                          "every target unhealthy on a health check path the API does not serve")
        assert {t["Description"] for t in seen.values()} == {"Health checks failed with these codes: [404]"}, seen
        assert httpx.get(f"{api(sandbox)}/health", timeout=10).status_code == 503, "no healthy target: the ALB answers 503"
    finally:
        elb.modify_target_group(TargetGroupArn=arn, HealthCheckPath=aws_names.HEALTH_CHECK_PATH)
    eventually(lambda: target_health(sandbox), lambda h: all(t["State"] == "healthy" for t in h.values()), "targets healthy again")


@pytest.mark.parametrize("key", list(aws_names.SERVICES))
def test_each_running_task_logged_its_startup_line_in_its_own_stream(sandbox, key):
    logs, ecs = sandbox.aws("logs"), sandbox.aws("ecs")
    for task in controller_tasks(sandbox, key):
        definition = ecs.describe_task_definition(taskDefinition=task["taskDefinition"])["taskDefinition"]
        options = definition["containerDefinitions"][0]["logConfiguration"]["options"]
        stream = f"{options['awslogs-stream-prefix']}/{aws_names.SERVICES[key][3]}/{task['task']}"
        assert (task["logGroup"], task["logStream"]) == (aws_names.LOG_GROUPS[key], stream)
        lines = eventually(
            lambda: logs.get_log_events(logGroupName=task["logGroup"], logStreamName=stream, startFromHead=True)["events"],
            lambda events: any(STARTUP_MESSAGES[key] in e["message"] for e in events),
            f"start-up line in {task['logGroup']} {stream}", deadline_s=20)
        on_file = [line for line in Path(task["log"]).read_text(encoding="utf-8").splitlines() if line.strip()]
        assert [e["message"] for e in lines] == on_file[:len(lines)], "the stream holds the task's output, in order"
    if key == "ocr-gpu":
        found = logs.filter_log_events(logGroupName=aws_names.GPU_LOG_GROUP, filterPattern='"falling back to CPU"')["events"]
        assert found, "the worker's CPU fallback line (no GPU on this machine) is in its CloudWatch log"


def test_metrics_come_from_redis_and_the_alb_and_an_alarm_follows_its_metric(sandbox):
    cw, r = sandbox.aws("cloudwatch"), sandbox.redis()
    cluster, service, _, _ = aws_names.SERVICES["ocr-gpu"]
    sandbox.aws("ecs").update_service(cluster=cluster, service=service, desiredCount=0)  # nobody takes the jobs
    eventually(lambda: controller_tasks(sandbox, "ocr-gpu"), lambda tasks: not tasks, "worker stopped")
    jobs = [json.dumps({"jobId": f"truth-bridge-{n}", "synthetic": True}) for n in range(25)]
    r.lpush(redis_keys.OCR_QUEUE, *jobs)
    try:
        alarm = eventually(lambda: cw.describe_alarms(AlarmNames=["filot-ocr-gpu-queue-length-high"])["MetricAlarms"][0],
                           lambda a: a["StateValue"] == "ALARM", "queue-length alarm in ALARM", deadline_s=30)
        assert "were greater than the threshold (20.0)" in alarm["StateReason"], alarm["StateReason"]
        since = datetime.now(timezone.utc) - timedelta(minutes=5)
        stats = cw.get_metric_statistics(Namespace="FiLot", MetricName="QueueLength", StartTime=since,
                                         EndTime=datetime.now(timezone.utc), Period=3600, Statistics=["Maximum"])
        assert stats["Datapoints"][0]["Maximum"] >= 25, stats
    finally:
        for job in jobs:
            r.lrem(redis_keys.OCR_QUEUE, 0, job)
        sandbox.aws("ecs").update_service(cluster=cluster, service=service, desiredCount=1)
    alarm = eventually(lambda: cw.describe_alarms(AlarmNames=["filot-ocr-gpu-queue-length-high"])["MetricAlarms"][0],
                       lambda a: a["StateValue"] == "OK", "queue-length alarm back to OK", deadline_s=20)
    # "1 out of ... was not greater", or "2 out of ... were not greater" when the judge saw two periods at once
    assert "not greater than the threshold (20.0)" in alarm["StateReason"], alarm["StateReason"]


def test_alarm_evaluation_follows_cloudwatch_rules_for_metric_math_and_missing_data():
    """The evaluator alone, on moto in-process: the 5xx-rate alarm (metric math, 3 of 5 periods) and
    the worker-down alarm (missing data is breaching) judged on datapoints put into given periods."""
    from moto import mock_aws
    from moto.backends import get_backend

    from filot_contract import metrics
    from filot_gate.manifests import ManifestParams, alb_dimension, load_alarms
    from sandbox.alarms import AlarmEvaluator

    account, region, minute = "123456789012", "ap-southeast-2", 10.0
    balancer = f"arn:aws:elasticloadbalancing:{region}:{account}:loadbalancer/app/{aws_names.ALB_NAME}/0123456789abcdef"
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name=region)
        for spec in load_alarms(ManifestParams(account_id=account, region=region, load_balancer_arn=balancer)):
            cloudwatch.put_metric_alarm(**spec)
        backend = get_backend("cloudwatch")[account][region]
        start = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc).timestamp()
        dimension = [{"Name": metrics.ALB_DIMENSION, "Value": alb_dimension(balancer)}]

        def put(name: str, value: float, period: int) -> None:
            stamp = datetime.fromtimestamp(start + (period + 0.5) * minute, timezone.utc).replace(tzinfo=None)
            backend.put_metric_data(metrics.ALB_NAMESPACE, [{"MetricName": name, "Value": value, "Unit": "Count",
                                                             "Timestamp": stamp, "Dimensions": dimension}])

        for period, errors in enumerate([0, 5, 5, 5]):  # 100 requests a period; 5 % errors in the last three
            put(metrics.ALB_REQUESTS, 100, period)
            if errors:
                put(metrics.ALB_TARGET_5XX, errors, period)
        evaluator = AlarmEvaluator(backend, minute, started=start)
        evaluator.evaluate(start + 3 * minute)
        assert backend.alarms["filot-alb-target-5xx-rate-high"].state_value == "OK", "2 breaching of 3 observed periods"
        evaluator.evaluate(start + 4 * minute)
        states = {name: (a.state_value, a.state_reason) for name, a in backend.alarms.items()}
        rate, down = states["filot-alb-target-5xx-rate-high"], states["filot-ocr-gpu-worker-down"]
        assert rate[0] == "ALARM" and "3 out of the last 4 datapoints [5.0" in rate[1], rate
        assert down[0] == "OK", "four periods are fewer than the 10 the worker-down alarm needs"
        evaluator.evaluate(start + 10 * minute)
        down = (backend.alarms["filot-ocr-gpu-worker-down"].state_value, backend.alarms["filot-ocr-gpu-worker-down"].state_reason)
        assert down == ("ALARM", "Threshold Crossed: no datapoints were received for 10 periods and 10 missing"
                                 " datapoints were treated as [Breaching]."), down
        assert backend.alarms["filot-alb-target-5xx-rate-high"].state_value == "OK", "no traffic: no 5xx rate datapoint"
