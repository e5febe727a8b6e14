"""Infra: the services' CloudWatch logs (seed 000 section 2 "Log group shows application startup
logs", section 6 "Log groups ... set retention (90 days)", seed 002 sections 6, 7 and 10, seed 004 "View
Container Logs", seed 001 "CloudWatch Log Groups"): the log groups exist with the retention policy, so
does each cluster's ECS Exec log group, every container of every task of this
deployment wrote its start-up line there (EPR's API and its audit worker each in their own stream), and
no line of theirs carries a secret's value or is at error level."""

from __future__ import annotations

import re
from typing import Callable, Iterator, NamedTuple

import pytest

from filot_contract import aws_names
from filot_contract.log_lines import startup_messages
from filot_gate.checks import deployed_arn, service_name, task_id, tasks
from filot_gate.log_levels import error_level
from filot_gate.manifests import CLUSTERS_FILE, exec_log_groups, read_json
from filot_gate.polling import poll_until
from filot_gate.task_logs import DEFAULT_LOG_DELIVERY_S, TaskStream, first_messages, revision_streams, task_stream

pytestmark = pytest.mark.infra

SERVICES = pytest.mark.parametrize("service_key", list(aws_names.SERVICES))
#: Lines read per container stream when looking for secret values or error lines (a start-up dump of
#: the configuration is where secrets leak; a stream past this is read no further, and the evidence says so).
DEFAULT_SCAN_LINES = 20_000


@pytest.mark.parametrize("group", list(aws_names.LOG_GROUPS.values()))
def test_log_group_exists_with_the_retention_policy(target, settings, group):
    days = settings.profile.get("logs.retention_days", aws_names.LOG_RETENTION_DAYS)
    found = log_group(target, group)
    assert found, f"CloudWatch log group {group}: expected to exist (aws logs describe-log-groups), it does not"
    retention = found.get("retentionInDays")
    assert retention == days, (
        f"CloudWatch log group {group}: expected retention {days} days, got {retention or 'never expire'}"
    )


@pytest.mark.parametrize("group", exec_log_groups(read_json(CLUSTERS_FILE)))
def test_ecs_exec_log_group_exists(target, group):
    assert log_group(target, group), (
        f"CloudWatch log group {group}: expected to exist (aws logs describe-log-groups), it does not: the cluster's"
        f" ECS Exec sessions log there ({CLUSTERS_FILE}, executeCommandConfiguration), so a shell opened with"
        " `aws ecs execute-command` would leave no record of what was run")


def log_group(target, group: str) -> dict | None:
    """The log group named exactly ``group`` (describe-log-groups matches a prefix)."""
    found = target.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    return next((g for g in found if g["logGroupName"] == group), None)


@SERVICES
def test_every_task_of_this_deployment_logged_its_startup_line(target, ecs, deploy_record, settings, service_key, evidence):
    expected = deployed_arn(deploy_record, service_key)
    messages = startup_messages(service_key)
    task_definition = ecs.describe_task_definition(taskDefinition=expected)["taskDefinition"]
    ours = [task_id(t) for t in tasks(ecs, service_key) if t["taskDefinitionArn"] == expected]
    assert ours, f"{service_name(service_key)}: expected running tasks of {expected}, found none"
    streams = {task_stream(task_definition, container, tid): message for tid in ours for container, message in messages.items()}
    group = next(iter(streams)).group
    logs = target.client("logs")

    def read() -> dict[TaskStream, list[str] | None]:
        return {s: first_messages(logs, s) for s in streams}

    def lacking(seen: dict[TaskStream, list[str] | None]) -> list[TaskStream]:
        return [s for s, lines in seen.items() if not any(streams[s] in line for line in lines or [])]

    seen = poll_until(read, lambda s: not lacking(s), awaited=f"start-up lines of {len(streams)} container(s) in {group}",
                      deadline_s=settings.profile.get("deadlines.logs_s", DEFAULT_LOG_DELIVERY_S),
                      describe=lambda s: f"{len(lacking(s))} without one")
    evidence.add("first lines of each container's stream", {
        f"{s.group} {s.stream}": (lines or ["(stream does not exist)"])[:5] for s, lines in seen.items()})
    missing = [f"{s.stream} (expected {streams[s]!r}; "
               f"{'no such stream' if seen[s] is None else f'{len(seen[s])} lines, none a start-up line'})"
               for s in lacking(seen)]
    assert not missing, (
        f"CloudWatch log group {group}: expected a start-up line from every container of every task of"
        f" {expected.rsplit('/', 1)[-1]}; missing in: {'; '.join(missing)}"
    )


class DeploymentLogs(NamedTuple):
    """The first lines of every container stream of the deployed revision's running tasks."""

    revision: str
    lines: dict[TaskStream, list[str]]
    limit: int

    def numbered(self) -> Iterator[tuple[TaskStream, int, str]]:
        """Each line read, with its stream and its number there (from 1)."""
        for stream, lines in self.lines.items():
            for number, line in enumerate(lines, 1):
                yield stream, number, line

    def read_per_stream(self) -> dict[str, str]:
        return {f"{s.group} {s.stream}": f"{len(lines)}{' (limit reached: read no further)' if len(lines) >= self.limit else ''}"
                for s, lines in self.lines.items()}


def read_deployment_logs(target, ecs, deploy_record, settings, service_key) -> DeploymentLogs:
    expected = deployed_arn(deploy_record, service_key)
    limit = settings.profile.get("logs.scan_lines", DEFAULT_SCAN_LINES)
    logs = target.client("logs")
    lines = {s: first_messages(logs, s, limit=limit) or [] for s in revision_streams(ecs, service_key, expected)}
    return DeploymentLogs(expected.rsplit("/", 1)[-1], lines, limit)


@pytest.fixture(scope="module")
def deployment_logs(target, ecs, deploy_record, settings) -> Callable[[str], DeploymentLogs]:
    """A service's deployment logs, read once for both checks that scan every line (CloudWatch throttles
    GetLogEvents, and a stream may hold tens of thousands of lines)."""
    read: dict[str, DeploymentLogs] = {}

    def of(service_key: str) -> DeploymentLogs:
        if service_key not in read:
            read[service_key] = read_deployment_logs(target, ecs, deploy_record, settings, service_key)
        return read[service_key]

    return of


@SERVICES
def test_no_line_of_this_deployment_s_logs_carries_a_secret_value(target, deployment_logs, service_key, evidence):
    registered, unreadable = target.register_all_secrets()  # every value the tasks could have printed
    logs = deployment_logs(service_key)
    leaks = [f"{s.stream} line {n}: {target.redactor.text(line)[:300]} (value of {', '.join(found)})"
             for s, n, line in logs.numbered() if (found := target.redactor.found_in(line))]
    evidence.add("lines read per stream, and the secrets looked for", {
        "lines read per stream": logs.read_per_stream(), "secret values looked for": target.redactor.count, "secrets read": registered,
        "secrets not readable": unreadable})
    assert not leaks, (
        f"CloudWatch logs of {logs.revision}: expected no secret value in any line; {len(leaks)} line(s)"
        f" carry one (masked here): " + "; ".join(leaks[:5]))


@SERVICES
def test_no_container_of_this_deployment_logged_an_error(target, deployment_logs, settings, service_key, evidence):
    target.register_all_secrets()  # an error line may quote a secret (a refused password): shown masked
    harmless = [re.compile(p) for p in settings.profile.get("logs.ignored_errors", [])]
    logs = deployment_logs(service_key)
    found = [(f"{s.group} {s.stream} line {n} ({level}): {target.redactor.text(line)[:300]}", line)
             for s, n, line in logs.numbered() if (level := error_level(line))]
    ignored = [shown for shown, line in found if any(p.search(line) for p in harmless)]
    errors = [shown for shown, _ in found if shown not in ignored]
    evidence.add("lines read per stream, and the error lines among them", {
        "lines read per stream": logs.read_per_stream(), "error lines": len(errors), "first error lines": errors[:20],
        "error lines [logs] ignored_errors matched": ignored[:20]})
    assert not errors, (
        f"CloudWatch logs of {logs.revision}: expected no line at error level from its running tasks since they started;"
        f" {len(errors)} line(s) are (first {min(len(errors), 5)} shown, masked): " + "; ".join(errors[:5])
        + (f" (another {len(ignored)} matched [logs] ignored_errors)" if ignored else ""))
