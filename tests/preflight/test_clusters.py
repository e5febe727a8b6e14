"""Preflight: the ECS clusters are ACTIVE (seed 000 "Prerequisites" 3 and section 0, seed 004 "ECS Cluster")
and set up as ``infra/ecs/cluster.json`` says (seed 001 "Cluster Configuration": Container Insights
enabled, ECS Exec with its logging; the Fargate capacity providers)."""

from __future__ import annotations

import pytest

from filot_contract import aws_names
from filot_gate.manifest_diff import differences
from filot_gate.manifests import CLUSTERS_FILE, read_json

pytestmark = pytest.mark.preflight

CLUSTERS = pytest.mark.parametrize("cluster", list(dict.fromkeys(cluster for cluster, *_ in aws_names.SERVICES.values())))
CLUSTER_FIELDS = ("settings", "configuration", "capacityProviders", "defaultCapacityProviderStrategy")


@CLUSTERS
def test_ecs_cluster_is_active(target, cluster):
    answer = target.client("ecs").describe_clusters(clusters=[cluster])
    failure = next((f.get("reason") for f in answer.get("failures", [])), None)
    assert answer["clusters"], f"ECS cluster {cluster}: expected to exist (aws ecs describe-clusters), got {failure or 'nothing'}"
    status = answer["clusters"][0]["status"]
    assert status == "ACTIVE", f"ECS cluster {cluster}: expected status ACTIVE, got {status}"


@CLUSTERS
def test_ecs_cluster_is_set_up_as_its_manifest_says(target, cluster, evidence):
    manifest = next(c for c in read_json(CLUSTERS_FILE) if c["clusterName"] == cluster)
    found = target.client("ecs").describe_clusters(clusters=[cluster], include=["SETTINGS", "CONFIGURATIONS"])["clusters"]
    if not found:
        pytest.skip(f"ECS cluster {cluster} does not exist: test_ecs_cluster_is_active says so")
    evidence.add("the cluster as ECS describes it", {f: found[0].get(f) for f in CLUSTER_FIELDS})
    wrong = differences("cluster", manifest, as_the_manifest_would_say_it(found[0]), CLUSTER_FIELDS)
    assert not wrong, f"ECS cluster {cluster}: expected the configuration of {CLUSTERS_FILE}; {'; '.join(wrong)}"


def as_the_manifest_would_say_it(cluster: dict) -> dict:
    """What AWS says in other words: Container Insights ``enhanced`` (with enhanced observability) is
    ``enabled`` and more; a cluster created without ``configuration`` runs ECS Exec with ``DEFAULT`` logging."""
    settings = [{**s, "value": "enabled"} if s == {"name": "containerInsights", "value": "enhanced"} else s
                for s in cluster.get("settings") or []]
    configuration = cluster.get("configuration") or {"executeCommandConfiguration": {"logging": "DEFAULT"}}
    return {**cluster, "settings": settings, "configuration": configuration}
