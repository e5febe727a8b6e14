"""Whether a CloudWatch metric is still arriving: an alarm on a metric that no longer gets datapoints
(renamed in a release, its publisher stopped) stays quiet whatever happens, and with ``notBreaching``
it even reports OK.

CloudWatch matches a metric by namespace, name and its exact set of dimensions, so a query names all
three as the alarm does.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

#: The oldest datapoint of an every-minute gauge that counts as arriving, where the profile does not say
#: (``[deadlines] metric_max_age_s``): CloudWatch shows a datapoint a minute or two late.
DEFAULT_METRIC_MAX_AGE_S = 300
#: The period asked for: CloudWatch's standard resolution (a shorter one is refused for standard metrics).
PERIOD_S = 60
#: What ``list-metrics`` may be narrowed to (the only value AWS accepts for ``RecentlyActive``).
RECENTLY_ACTIVE = "PT3H"


def samples_within(cloudwatch: Any, namespace: str, name: str, dimensions: list[dict[str, str]],
                   within_s: float) -> int:
    """How many datapoints of the metric CloudWatch holds for the last ``within_s`` seconds."""
    end = datetime.now(timezone.utc)
    answer = cloudwatch.get_metric_statistics(
        Namespace=namespace, MetricName=name, Dimensions=dimensions, StartTime=end - timedelta(seconds=within_s),
        EndTime=end, Period=PERIOD_S, Statistics=["SampleCount"])
    return int(sum(point.get("SampleCount", 0) for point in answer["Datapoints"]))


def arriving(cloudwatch: Any, namespace: str, within_s: float) -> list[str]:
    """The metrics of ``namespace`` with a datapoint in the last ``within_s`` seconds, each with its
    dimensions: what the publisher sends now, to set beside what an alarm watches."""
    shown = set()
    for page in cloudwatch.get_paginator("list_metrics").paginate(Namespace=namespace, RecentlyActive=RECENTLY_ACTIVE):
        for metric in page["Metrics"]:
            name, dimensions = metric["MetricName"], metric.get("Dimensions", [])
            if samples_within(cloudwatch, namespace, name, dimensions, within_s):
                pairs = ",".join(f"{d['Name']}={d['Value']}" for d in dimensions)
                shown.add(f"{name}{{{pairs}}}" if pairs else name)
    return sorted(shown)
