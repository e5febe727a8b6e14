"""Seed 002 sections 7 and 9 ("Verify metrics endpoint: GET /metrics"), seed 000 section 7 (smoke tests:
logs + DB + metrics): the API serves FiLot's Prometheus series, each read from its live source."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from filot_contract import metrics

pytestmark = pytest.mark.e2e


def test_metrics_endpoint_serves_filot_s_series_from_live_sources(api, evidence):
    response = api.get("/metrics")
    evidence.add("GET /metrics", response.text[:4000])
    assert response.status_code == 200, (
        f"GET {api.base_url}/metrics: expected 200, got {response.status_code}: {response.text[:300]}"
        " (METRICS_ENABLED in the backend's task definition must be true)")
    content_type = response.headers.get("content-type", "")
    assert content_type.startswith("text/plain"), f"GET /metrics: expected Prometheus text (text/plain), got {content_type!r}"
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    missing = [name for name in metrics.PROM_REQUIRED if name not in families]
    assert not missing, f"GET /metrics: expected series {', '.join(metrics.PROM_REQUIRED)}; missing {', '.join(missing)}"
    down = sorted(s.labels.get("source", "?") for s in families[metrics.PROM_SOURCE_UP].samples if s.value != 1)
    assert not down, (f"GET /metrics: expected every source readable ({metrics.PROM_SOURCE_UP} 1), got 0 for {', '.join(down)}:"
                      " those series show stale values")
