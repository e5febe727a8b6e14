"""CloudWatch alarm evaluation for the sandbox (moto stores alarms but never evaluates them).

Each metric alarm is judged as CloudWatch judges it, over the datapoints moto holds (whoever put
them): the alarm's statistic per period, the last ``EvaluationPeriods`` periods, ``DatapointsToAlarm``
of them breaching for ALARM, ``TreatMissingData`` for periods without data, metric math
(``+ - * /``, ``FILL``) for alarms on an expression. The state is written with ``set_alarm_state``
only when it changes, with a reason worded as CloudWatch words it.

Simplified, and said so: time is compressed (a 60-second period lasts ``minute_s`` seconds of
sandbox time), periods before the evaluator started are not evaluated (the alarms are "created" when
the sandbox starts), and percentile statistics and anomaly detection are not supported.
"""

from __future__ import annotations

import ast
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

log = logging.getLogger("sandbox.alarms")

#: Datapoints older than this (sandbox seconds) are dropped from moto, so memory stays bounded.
RETENTION_S = 3600.0

_OPERATORS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "GreaterThanThreshold": ("greater than", lambda v, t: v > t),
    "GreaterThanOrEqualToThreshold": ("greater than or equal to", lambda v, t: v >= t),
    "LessThanThreshold": ("less than", lambda v, t: v < t),
    "LessThanOrEqualToThreshold": ("less than or equal to", lambda v, t: v <= t),
}
MetricKey = tuple[str, str, frozenset]


class Unsupported(Exception):
    """An alarm this evaluator cannot judge honestly (it is left as it is)."""


@dataclass(frozen=True)
class Verdict:
    state: str
    reason: str
    data: dict[str, Any]


class AlarmEvaluator:
    """Judges every metric alarm of a moto CloudWatch backend at the end of each sandbox period."""

    def __init__(self, cloudwatch: Any, minute_s: float, started: float | None = None) -> None:
        self.cw = cloudwatch
        self.minute_s = minute_s
        self.started = time.time() if started is None else started
        self._unsupported: set[str] = set()
        #: alarms (by object: put-metric-alarm replaces it) judged at least once, so each shows a real reason
        self._judged: set[int] = set()

    def evaluate(self, end: float) -> None:
        """Judge each alarm on the periods that ended by ``end`` (epoch seconds); prune old data."""
        index = _index(self.cw.metric_data, since=end - RETENTION_S)
        for alarm in list(self.cw.alarms.values()):
            if getattr(alarm, "rule", None):
                continue  # a composite alarm: its state comes from other alarms, not from metrics
            try:
                verdict = self.judge(alarm, index, end)
            except Unsupported as exc:
                if alarm.name not in self._unsupported:
                    log.warning("alarm %s is not evaluated in the sandbox: %s", alarm.name, exc)
                    self._unsupported.add(alarm.name)
                continue
            if verdict is not None and (verdict.state != alarm.state_value or id(alarm) not in self._judged):
                log.info("alarm %s: %s -> %s: %s", alarm.name, alarm.state_value, verdict.state, verdict.reason)
                self.cw.set_alarm_state(alarm.name, verdict.reason, json.dumps(verdict.data), verdict.state)
                self._judged.add(id(alarm))
        _prune(self.cw.metric_data, before=end - RETENTION_S)

    def judge(self, alarm: Any, index: dict[MetricKey, list], end: float) -> Verdict | None:
        """The alarm's state after the periods that ended by ``end``; None when none was observed yet."""
        label, breaches = _OPERATORS.get(alarm.comparison_operator, (None, None))
        if breaches is None:
            raise Unsupported(f"comparison {alarm.comparison_operator}")
        period_s = self._period_s(alarm)
        windows = [(end - (k + 1) * period_s, end - k * period_s) for k in range(int(alarm.evaluation_periods))]
        windows = [w for w in windows if w[0] >= self.started - 1e-6]
        if not windows:
            return None
        values = [self._value(alarm, index, window) for window in windows]
        return _verdict(alarm, label, breaches, list(zip((w[0] for w in windows), values)))

    def _period_s(self, alarm: Any) -> float:
        period = alarm.period or next((int(q.metric_stat.period) for q in alarm.metric_data_queries if q.metric_stat), 60)
        return float(period) / 60.0 * self.minute_s

    def _value(self, alarm: Any, index: dict[MetricKey, list], window: tuple[float, float]) -> float | None:
        if not alarm.metric_data_queries:
            if alarm.extended_statistic:
                raise Unsupported(f"extended statistic {alarm.extended_statistic}")
            key = (alarm.namespace, alarm.metric_name, _dimensions(alarm.dimensions))
            return _statistic(alarm.statistic, _in_window(index.get(key, []), window, alarm.unit))
        values: dict[str, float | None] = {}
        for query in alarm.metric_data_queries:
            if query.metric_stat is not None:
                metric = query.metric_stat.metric
                key = (metric.namespace, metric.metric_name, _dimensions(metric.dimensions))
                values[query.id] = _statistic(query.metric_stat.stat, _in_window(index.get(key, []), window, None))
        returned = [q for q in alarm.metric_data_queries if str(q.return_data).lower() != "false"]
        if len(returned) != 1:
            raise Unsupported("metric math alarm without exactly one query returning data")
        query = returned[0]
        return values.get(query.id) if query.expression is None else expression_value(query.expression, values)


def _verdict(alarm: Any, label: str, breaches: Callable[[float, float], bool],
             points: list[tuple[float, float | None]]) -> Verdict | None:
    """CloudWatch's decision over the evaluated periods (newest first), with its wording."""
    treat = alarm.treat_missing_data or "missing"
    threshold = float(alarm.threshold)
    needed = int(alarm.datapoints_to_alarm or alarm.evaluation_periods)
    present = [(t, v) for t, v in points if v is not None]
    missing = len(points) - len(present)
    if not present and treat in ("missing", "ignore"):
        if treat == "ignore":
            return None
        return Verdict("INSUFFICIENT_DATA", f"Insufficient Data: {missing} datapoints were unknown.", {"version": "1.0"})
    breaching = sum(1 for _, v in present if breaches(v, threshold)) + (missing if treat == "breaching" else 0)
    considered = len(present) + (missing if treat in ("breaching", "notBreaching") else 0)
    data = {"version": "1.0", "queryDate": _when(time.time()), "threshold": threshold,
            "recentDatapoints": [v for _, v in present], "evaluatedDatapoints": len(points)}
    state = "ALARM" if breaching >= needed else "OK"
    if not present:
        treated = "Breaching" if treat == "breaching" else "NonBreaching"
        return Verdict(state, f"Threshold Crossed: no datapoints were received for {missing} periods and {missing}"
                              f" missing datapoints were treated as [{treated}].", data)
    shown = ", ".join(f"{v} ({_when(t)})" for t, v in present)
    if state == "ALARM":
        return Verdict(state, f"Threshold Crossed: {breaching} out of the last {considered} datapoints [{shown}]"
                              f" were {label} the threshold ({threshold}) (minimum {needed} datapoints for"
                              f" OK -> ALARM transition).", data)
    fine = considered - breaching
    return Verdict(state, f"Threshold Crossed: {fine} out of the last {considered} datapoints [{shown}]"
                          f" {'was' if fine == 1 else 'were'} not {label} the threshold ({threshold})"
                          f" (minimum 1 datapoint for ALARM -> OK transition).", data)


def expression_value(expression: str, values: dict[str, float | None]) -> float | None:
    """A metric math expression over scalar values: numbers, ids, ``+ - * /``, ``FILL(x, v)``.

    None (no data) propagates; division by zero gives no data, as CloudWatch drops that point.
    """
    def ev(node: ast.AST) -> float | None:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in values:
                raise Unsupported(f"unknown id {node.id} in {expression!r}")
            return values[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            operand = ev(node.operand)
            return None if operand is None else -operand
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "FILL" and len(node.args) == 2:
            value = ev(node.args[0])
            return ev(node.args[1]) if value is None else value
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            left, right = ev(node.left), ev(node.right)
            if left is None or right is None:
                return None
            return _ARITHMETIC[type(node.op)](left, right)
        raise Unsupported(f"metric math {ast.dump(node)[:60]} in {expression!r}")

    try:
        return ev(ast.parse(expression, mode="eval"))
    except SyntaxError:
        raise Unsupported(f"metric math {expression!r} does not parse") from None


_ARITHMETIC: dict[type, Callable[[float, float], float | None]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: None if b == 0 else a / b,
}


def _statistic(name: str | None, data: list[Any]) -> float | None:
    """One CloudWatch statistic over a period's datums (single values and statistic sets alike)."""
    if not data:
        return None
    sets = [(d.value, d.value, d.value, 1.0) if hasattr(d, "value") else (d.min, d.max, d.sum, d.sample_count) for d in data]
    count = sum(s[3] for s in sets)
    total = sum(s[2] for s in sets)
    stats = {"Maximum": max(s[1] for s in sets), "Minimum": min(s[0] for s in sets), "Sum": total,
             "SampleCount": count, "Average": total / count if count else None}
    if name not in stats:
        raise Unsupported(f"statistic {name}")
    return stats[name]


def _index(data: Iterable[Any], since: float) -> dict[MetricKey, list]:
    index: dict[MetricKey, list] = {}
    for datum in list(data):
        if _epoch(datum.timestamp) >= since:
            index.setdefault((datum.namespace, datum.name, _dimensions(datum.dimensions)), []).append(datum)
    return index


def _in_window(data: list[Any], window: tuple[float, float], unit: str | None) -> list[Any]:
    start, end = window
    return [d for d in data if start <= _epoch(d.timestamp) < end and (unit is None or d.unit in (None, unit))]


def _dimensions(dimensions: Iterable[Any]) -> frozenset:
    return frozenset((d.name, d.value) if hasattr(d, "name") else (d["Name"], d["Value"]) for d in dimensions or [])


def _prune(data: list[Any], before: float) -> None:
    """Drop the oldest datums (moto keeps them in arrival order) up to the first one still wanted."""
    stale = 0
    while stale < len(data) and _epoch(data[stale].timestamp) < before:
        stale += 1
    if stale:
        del data[:stale]


def _epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%d/%m/%y %H:%M:%S")
