"""The sandbox's EPR image (seed 004) as its containers run it: the audit worker against a real SQS
queue fed by a real SNS topic (moto server), its refusals of bad configuration, its stop on SIGTERM in
the middle of a 20 s long poll; the API's ``/healthz`` when its database is down, and its exit at start-up
when its Upstash cache refuses the token."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from filot_contract import aws_names
from filot_contract.epr import AUDIT_CONSUMED, AUDIT_WORKER_STARTED, synthetic_audit_event
from selftests.services import (  # noqa: F401 - redis_server and upstash_server are fixtures
    NotReady, UpstashServer, free_port, redis_server, upstash_server, wait_for)

REPO = Path(__file__).resolve().parent.parent
REGION = "ap-southeast-2"
ACCOUNT = "123456789012"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{aws_names.EPR_AUDIT_QUEUE}"
#: A PostgreSQL URL nobody listens at: the worker never connects, the API's health check must say so.
NOWHERE_DB = "postgresql://epr:secret-password@127.0.0.1:9/epr_db"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def aws(moto_url: str) -> Any:
    session = boto3.session.Session(region_name=REGION, aws_access_key_id="selftest", aws_secret_access_key="selftest")
    return lambda name: session.client(name, endpoint_url=moto_url)


@pytest.fixture(scope="module")
def audit_topic(aws: Any) -> str:
    """The audit topic and its queue, subscribed as ``infra/messaging/omen-epr.json`` subscribes them."""
    topic = aws("sns").create_topic(Name=aws_names.EPR_AUDIT_TOPIC)["TopicArn"]
    url = aws("sqs").create_queue(QueueName=aws_names.EPR_AUDIT_QUEUE)["QueueUrl"]
    arn = aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return topic


def environment(moto_url: str, **settings: str) -> dict[str, str]:
    return {**os.environ, "AWS_ENDPOINT_URL": moto_url, "AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "selftest",
            "AWS_SECRET_ACCESS_KEY": "selftest", "PYTHONUNBUFFERED": "1", "EPR_DATABASE_URL": NOWHERE_DB,
            "EPR_AUDIT_SQS_URL": QUEUE_URL, **settings}


def run_once(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sandbox.epr", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def worker(moto_url: str, audit_topic: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen, Path]]:
    log = tmp_path / "audit-worker.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "sandbox.epr", "audit-worker"], cwd=REPO, stdout=out,
                                   stderr=subprocess.STDOUT, env=environment(moto_url))
    until(lambda: AUDIT_WORKER_STARTED in log.read_text(), "the audit worker's start-up line")
    yield process, log
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def until(read: Any, what: str, deadline_s: float = 30) -> Any:
    """``read()`` until it returns something truthy."""
    def check() -> Any:
        value = read()
        if not value:
            raise NotReady(what)
        return value

    return wait_for(check, what, deadline_s, interval_s=0.2)


def lines(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def test_worker_with_an_empty_queue_url_exits_at_once_naming_the_variable(moto_url):
    result = run_once(environment(moto_url, EPR_AUDIT_SQS_URL=""), "audit-worker")
    assert (result.returncode, result.stderr) == (
        2, "audit-worker: invalid configuration: EPR_AUDIT_SQS_URL: required but not set\n"), result


def test_worker_refuses_more_messages_per_poll_than_sqs_gives(moto_url):
    result = run_once(environment(moto_url, EPR_AUDIT_SQS_MAX_MESSAGES="50"), "audit-worker")
    assert result.returncode == 2 and "EPR_AUDIT_SQS_MAX_MESSAGES" in result.stderr and "10" in result.stderr, result
    assert "Traceback" not in result.stderr and NOWHERE_DB not in result.stderr


def test_unknown_role_is_refused(moto_url):
    result = run_once(environment(moto_url), "cron")
    assert (result.returncode, result.stderr.strip()) == (
        2, "omen-epr: invalid configuration: expected a command of api or audit-worker, got 'cron'"), result


def test_worker_consumes_an_event_of_the_audit_topic_and_leaves_a_malformed_message_on_the_queue(worker, aws, audit_topic):
    _, log = worker
    event = synthetic_audit_event("selftest")
    aws("sqs").send_message(QueueUrl=QUEUE_URL, MessageBody="not an audit event")
    aws("sns").publish(TopicArn=audit_topic, Message=json.dumps(event))
    consumed = until(lambda: [e for e in lines(log) if e["msg"] == AUDIT_CONSUMED], "the consumed line")
    assert [e["eventId"] for e in consumed] == [event["eventId"]]
    left = until(lambda: [e for e in lines(log) if e["level"] == "warning"], "the malformed message's warning")
    assert "expected a JSON object with an eventId" in left[0]["problem"]
    def on_queue() -> int:
        attributes = aws("sqs").get_queue_attributes(QueueUrl=QUEUE_URL, AttributeNames=["All"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    assert on_queue() == 1, f"expected only the malformed message kept on the queue, found {on_queue()} messages"


def test_sigterm_in_a_long_poll_stops_the_worker_at_once(worker):
    process, log = worker
    time.sleep(0.5)  # inside its 20 s long poll now
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert time.monotonic() - started < 5, "SIGTERM waited for the long poll to end"


def api_environment(upstash: UpstashServer, port: int, token: str | None = None) -> dict[str, str]:
    return {**os.environ, "HOST": "127.0.0.1", "PORT": str(port), "EPR_DATABASE_URL": NOWHERE_DB,
            "EPR_REDIS_URL": upstash.url, "EPR_REDIS_TOKEN": token or upstash.token, "REDIS_TLS_CA_FILE": str(upstash.ca_file),
            "PYTHONUNBUFFERED": "1", "EPR_DOCUMENT_VAULT_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:{aws_names.EPR_DOCUMENT_TOPIC}"}


def test_api_exits_at_start_when_upstash_refuses_its_token(upstash_server):
    wrong = "w" * 32
    result = subprocess.run([sys.executable, "-m", "sandbox.epr"], cwd=REPO, env=api_environment(upstash_server, free_port(), wrong),
                            capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"cannot start: EPR_REDIS_URL {upstash_server.url}: EPR_REDIS_TOKEN refused (401 Unauthorized)" in output, output
    assert wrong not in output


def test_api_exits_at_start_naming_a_ca_file_that_is_not_a_bundle(upstash_server, tmp_path):
    not_a_bundle = tmp_path / "ca.pem"
    not_a_bundle.write_text("this is not a certificate\n")
    env = {**api_environment(upstash_server, free_port()), "REDIS_TLS_CA_FILE": str(not_a_bundle)}
    result = subprocess.run([sys.executable, "-m", "sandbox.epr"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in output, output
    assert f"cannot start: REDIS_TLS_CA_FILE {not_a_bundle}: not a readable CA bundle" in output, output


def test_api_health_names_the_unreachable_database(tmp_path, upstash_server):
    port = free_port()
    env = api_environment(upstash_server, port)
    with open(tmp_path / "api.log", "wb") as out:
        api = subprocess.Popen([sys.executable, "-m", "sandbox.epr"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}{aws_names.EPR_HEALTH_CHECK_PATH}"

        def answer() -> httpx.Response | None:
            try:
                return httpx.get(url, timeout=10)
            except httpx.TransportError:
                return None

        response = until(answer, "the EPR API to answer")
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["status"] == "unavailable" and "OperationalError" in body["database"], body
        assert "secret-password" not in response.text
    finally:
        api.terminate()
        api.wait(timeout=15)
