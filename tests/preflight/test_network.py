"""Preflight: EPR's security groups are as tight as seed 004 "Security Best Practices" 3 asks: the API
takes port 8080 from its load balancer only, and its tasks reach out only to PostgreSQL (5432), Redis
(6379) and HTTPS (443: SQS, SNS, Secrets Manager, Upstash REST). Read from the groups the live
service's tasks are placed in (``aws ecs describe-services`` -> ``aws ec2 describe-security-groups``)."""

from __future__ import annotations

import pytest

from filot_gate.checks import describe_service, service_name
from filot_gate.security_groups import Rule, rules_of

pytestmark = pytest.mark.preflight

API_PORT = 8080
OUTBOUND_PORTS = {5432: "PostgreSQL", 6379: "Redis", 443: "HTTPS: SQS, SNS, Secrets Manager, Upstash REST"}


@pytest.fixture(scope="module")
def epr_rules(target, ecs) -> tuple[list[str], list[Rule], list[Rule]]:
    """(group ids, ingress rules, egress rules) of the groups EPR's tasks are placed in."""
    network = describe_service(ecs, "epr").get("networkConfiguration", {}).get("awsvpcConfiguration", {})
    groups = network.get("securityGroups", [])
    assert groups, f"{service_name('epr')}: expected awsvpc security groups, its network configuration names none"
    ingress, egress = rules_of(target.client("ec2"), groups)
    return groups, ingress, egress


def test_epr_api_takes_port_8080_from_its_load_balancer_only(epr_rules, evidence):
    groups, ingress, _ = epr_rules
    evidence.add(f"ingress of {', '.join(groups)}", [str(r) for r in ingress])
    wrong = [str(r) for r in ingress if not (r.only_port(API_PORT) and r.from_groups_only)]
    assert not wrong, (
        f"{service_name('epr')} security groups {', '.join(groups)}: expected inbound only tcp {API_PORT} from the load"
        f" balancer's security group; also open: {'; '.join(wrong)}"
    )


def test_epr_tasks_reach_out_only_to_postgres_redis_and_https(epr_rules, evidence):
    groups, _, egress = epr_rules
    evidence.add(f"egress of {', '.join(groups)}", [str(r) for r in egress])
    wrong = [str(r) for r in egress if not any(r.only_port(port) for port in OUTBOUND_PORTS)]
    allowed = ", ".join(f"{port} ({what})" for port, what in OUTBOUND_PORTS.items())
    assert not wrong, (
        f"{service_name('epr')} security groups {', '.join(groups)}: expected outbound only tcp {allowed};"
        f" also open: {'; '.join(wrong)}"
    )
