"""Preflight: EPR's security groups are as tight as seed 004 "Security Best Practices" 3 asks: the API
takes port 8080 from its load balancer's group only, and its tasks reach out only to PostgreSQL (5432),
Redis (6379) and HTTPS (443: SQS, SNS, Secrets Manager, Upstash REST). Read from the groups the live
service places its tasks in (``aws ecs describe-services`` -> ``aws ec2 describe-security-groups``)."""

from __future__ import annotations

from typing import Any

import pytest

from filot_contract import aws_names
from filot_gate.checks import describe_service, service_name
from filot_gate.security_groups import GroupRules, group_id, rules_of

pytestmark = pytest.mark.preflight

OUTBOUND_PORTS = {5432: "PostgreSQL", 6379: "Redis", 443: "HTTPS: SQS, SNS, Secrets Manager, Upstash REST"}


def epr_task_rules(target: Any, ecs: Any) -> GroupRules:
    """The rules of the groups EPR's tasks are placed in."""
    network = describe_service(ecs, "epr").get("networkConfiguration", {}).get("awsvpcConfiguration", {})
    groups = network.get("securityGroups", [])
    assert groups, f"{service_name('epr')}: expected awsvpc security groups, its network configuration names none"
    return rules_of(target.client("ec2"), groups)


def test_epr_api_takes_port_8080_from_its_load_balancer_only(target, ecs, evidence):
    rules = epr_task_rules(target, ecs)
    evidence.add(f"ingress of {', '.join(rules.group_ids)}", [str(r) for r in rules.ingress])
    balancer = group_id(target.client("ec2"), aws_names.EPR_LB_SECURITY_GROUP, rules.vpc_ids)
    assert balancer, (f"security group {aws_names.EPR_LB_SECURITY_GROUP} (EPR's load balancer): expected to exist in"
                      f" {', '.join(rules.vpc_ids)}, it does not")
    port = aws_names.EPR_API_PORT
    wrong = [str(r) for r in rules.ingress if not (r.only_port(port) and r.peer == balancer)]
    assert not wrong, (
        f"{service_name('epr')} security groups {', '.join(rules.group_ids)}: expected inbound only tcp {port} from"
        f" {aws_names.EPR_LB_SECURITY_GROUP} ({balancer}); also open: {'; '.join(wrong)}"
    )


def test_epr_tasks_reach_out_only_to_postgres_redis_and_https(target, ecs, evidence):
    rules = epr_task_rules(target, ecs)
    evidence.add(f"egress of {', '.join(rules.group_ids)}", [str(r) for r in rules.egress])
    wrong = [str(r) for r in rules.egress if not any(r.only_port(port) for port in OUTBOUND_PORTS)]
    allowed = ", ".join(f"{port} ({what})" for port, what in OUTBOUND_PORTS.items())
    assert not wrong, (
        f"{service_name('epr')} security groups {', '.join(rules.group_ids)}: expected outbound only tcp {allowed};"
        f" also open: {'; '.join(wrong)}"
    )
