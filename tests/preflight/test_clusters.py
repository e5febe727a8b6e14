"""Preflight: the ECS clusters are ACTIVE (seed 000 "Prerequisites" 3 and section 0, seed 004 "ECS Cluster")."""

from __future__ import annotations

import pytest

from filot_contract import aws_names

pytestmark = pytest.mark.preflight


@pytest.mark.parametrize("cluster", list(dict.fromkeys(cluster for cluster, *_ in aws_names.SERVICES.values())))
def test_ecs_cluster_is_active(target, cluster):
    answer = target.client("ecs").describe_clusters(clusters=[cluster])
    failure = next((f.get("reason") for f in answer.get("failures", [])), None)
    assert answer["clusters"], f"ECS cluster {cluster}: expected to exist (aws ecs describe-clusters), got {failure or 'nothing'}"
    status = answer["clusters"][0]["status"]
    assert status == "ACTIVE", f"ECS cluster {cluster}: expected status ACTIVE, got {status}"
