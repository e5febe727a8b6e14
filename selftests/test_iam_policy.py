"""How the gate reads a role's policies (``filot_gate.iam_policy.allows``): as IAM does for the cases a
task role's inline policies use; where it cannot know (a Condition), it says "not allowed"."""

from __future__ import annotations

import pytest

from filot_gate import execution_role
from filot_gate.iam_policy import allows, beyond, lets_service_send, refused

QUEUE = "arn:aws:sqs:ap-southeast-2:123456789012:epr-audit-events-queue"


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


@pytest.mark.parametrize("statements, expected", [
    ([{"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": QUEUE}], True),
    ([{"Effect": "Allow", "Action": ["SQS:receive*"], "Resource": "arn:aws:sqs:*:*:epr-*"}], True),
    ([{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"},
      {"Effect": "Deny", "Action": "sqs:ReceiveMessage", "Resource": QUEUE}], False),
    ([{"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": QUEUE,
       "Condition": {"Bool": {"aws:SecureTransport": "true"}}}], False),
    ([{"Effect": "Allow", "Action": "sqs:DeleteMessage", "Resource": QUEUE}], False),
    ([{"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": QUEUE + "-dlq"}], False),
    ([], False),
], ids=["exact", "wildcards-and-case", "deny-wins", "condition-not-counted", "other-action", "other-queue", "no-policy"])
def test_allows_reads_policies_as_iam_does(statements, expected):
    assert allows([policy(*statements)], "sqs:ReceiveMessage", QUEUE) is expected


def test_a_single_statement_object_counts_like_a_list():
    document = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": QUEUE}}
    assert allows([document], "sqs:ReceiveMessage", QUEUE)


def test_a_deny_of_everything_but_another_service_applies():
    statements = [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"},
                  {"Effect": "Deny", "NotAction": "sns:*", "Resource": "*"}]
    assert not allows([policy(*statements)], "sqs:ReceiveMessage", QUEUE)
    assert allows([policy({"Effect": "Allow", "Action": "sqs:*", "NotResource": QUEUE + "-dlq"})], "sqs:ReceiveMessage", QUEUE)


TOPIC = "arn:aws:sns:ap-southeast-2:123456789012:epr-audit-events"
SNS = "sns.amazonaws.com"


@pytest.mark.parametrize("statement, expected", [
    ({"Effect": "Allow", "Principal": {"Service": SNS}, "Action": "sqs:SendMessage", "Resource": QUEUE,
      "Condition": {"ArnEquals": {"aws:SourceArn": TOPIC}}}, True),
    ({"Effect": "Allow", "Principal": "*", "Action": "sqs:*", "Resource": QUEUE,
      "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:123456789012:*"}}}, True),
    ({"Effect": "Allow", "Principal": {"Service": SNS}, "Action": "sqs:SendMessage", "Resource": QUEUE,
      "Condition": {"ArnEquals": {"aws:SourceArn": TOPIC + "-other"}}}, False),
    ({"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage", "Resource": QUEUE}, False),
    ({"Effect": "Allow", "Principal": {"Service": SNS}, "Action": "sqs:SendMessage", "Resource": QUEUE,
      "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}, False),
], ids=["exact", "like", "other-topic", "other-service", "unjudged-condition"])
def test_a_queue_policy_lets_the_topic_deliver_as_sqs_reads_it(statement, expected):
    assert lets_service_send(policy(statement), SNS, "sqs:SendMessage", QUEUE, TOPIC) is expected


def test_execution_role_needs_name_the_repository_the_log_stream_and_each_secret_without_its_json_key():
    secret = "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:filot/production/epr-AbC123"
    definition = {"executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole", "containerDefinitions": [{
        "name": "omen-epr",
        "image": "123456789012.dkr.ecr.ap-southeast-2.amazonaws.com/omen-epr@sha256:abc",
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/omen-epr", "awslogs-stream-prefix": "ecs"}},
        "secrets": [{"name": "A", "valueFrom": f"{secret}:EPR_DATABASE_URL::"}, {"name": "B", "valueFrom": "/filot/flag"}],
        "environmentFiles": [{"type": "s3", "value": "arn:aws:s3:::filot-config/epr.env"}],
    }, {"name": "otel", "image": "public.ecr.aws/aws-observability/aws-otel-collector:latest"}]}
    repository = "arn:aws:ecr:ap-southeast-2:123456789012:repository/omen-epr"
    stream = f"arn:aws:logs:ap-southeast-2:123456789012:log-group:/ecs/omen-epr:log-stream:ecs/omen-epr/{execution_role.PROBE_TASK_ID}"
    assert execution_role.needs(definition, "ap-southeast-2", "123456789012") == [
        ("ecr:GetAuthorizationToken", "*"),
        *((action, repository) for action in execution_role.ECR_PULL_ACTIONS),
        *((action, stream) for action in execution_role.LOG_ACTIONS),
        ("secretsmanager:GetSecretValue", secret),
        ("ssm:GetParameters", "arn:aws:ssm:ap-southeast-2:123456789012:parameter/filot/flag"),
        ("s3:GetObject", "arn:aws:s3:::filot-config/epr.env"), ("s3:GetBucketLocation", "arn:aws:s3:::filot-config"),
    ]


def test_execution_role_needs_follow_the_roles_partition_and_a_china_registry():
    definition = {"executionRoleArn": "arn:aws-cn:iam::123456789012:role/ecsTaskExecutionRole", "containerDefinitions": [{
        "name": "api", "image": "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/filot-backend:1"}]}
    assert ("ecr:BatchGetImage", "arn:aws-cn:ecr:cn-north-1:123456789012:repository/filot-backend") in \
        execution_role.needs(definition, "cn-north-1", "123456789012")


def test_a_log_stream_allow_scoped_to_the_prefix_counts_and_a_deny_on_it_wins():
    definition = {"containerDefinitions": [{"name": "omen-epr", "logConfiguration": {
        "logDriver": "awslogs", "options": {"awslogs-group": "/ecs/omen-epr", "awslogs-stream-prefix": "ecs"}}}]}
    needs = execution_role.needs(definition, "ap-southeast-2", "123456789012")
    streams = "arn:aws:logs:*:*:log-group:/ecs/omen-epr:log-stream:ecs/*"
    assert refused([policy({"Effect": "Allow", "Action": "logs:*", "Resource": streams})], needs) == []
    denied = [policy({"Effect": "Allow", "Action": "logs:*", "Resource": "*"},
                     {"Effect": "Deny", "Action": "logs:PutLogEvents", "Resource": streams})]
    assert [action for action, _ in refused(denied, needs)] == ["logs:PutLogEvents"]


SECRETS = "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:filot/production/*"
DECLARED = [policy({"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"], "Resource": QUEUE},
                   {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": SECRETS},
                   {"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
                    "Condition": {"StringEquals": {"cloudwatch:namespace": "FiLot"}}})]


@pytest.mark.parametrize("statement, extra", [
    ({"Effect": "Allow", "Action": "SQS:receivemessage", "Resource": QUEUE}, []),
    ({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": SECRETS.replace("*", "jwt-*")}, []),
    ({"Effect": "Deny", "Action": "*", "Resource": "*"}, []),
    ({"Effect": "Allow", "Action": "sqs:*", "Resource": QUEUE}, [f"sqs:* on {QUEUE} (live)"]),
    ({"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": "*"}, ["sqs:ReceiveMessage on * (live)"]),
    ({"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": SECRETS.replace("production/", "")},
     [f"secretsmanager:GetSecretValue on {SECRETS.replace('production/', '')} (live)"]),
    ({"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"}, ["cloudwatch:PutMetricData on * (live)"]),
    ({"Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*",
      "Condition": {"StringEquals": {"cloudwatch:namespace": "FiLot"}}}, []),
    ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, ["every action but ['iam:*'] on every resource but none (live)"]),
], ids=["same-action-other-case", "narrower-resource", "deny-narrows", "action-wildcard", "any-resource", "wider-resource",
        "condition-dropped", "same-condition", "not-action"])
def test_beyond_names_what_a_role_grants_past_its_manifest(statement, extra):
    assert beyond({"live": policy(statement)}, DECLARED) == extra


def test_a_not_action_allow_declared_as_it_stands_is_covered():
    statement = {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*"], "Resource": "*"}
    assert beyond({"PowerUserAccess": policy(statement)}, [policy(statement)]) == []
