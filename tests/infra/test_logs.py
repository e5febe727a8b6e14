"""Infra: the services' CloudWatch logs (seed 000 section 2 "Log group shows application startup
logs", section 6 "Log groups ... set retention (90 days)", seed 002 section 7): both log groups exist
with the retention policy, and every task of this deployment wrote its start-up line there."""

from __future__ import annotations

import pytest

from filot_contract import aws_names

pytestmark = pytest.mark.infra


@pytest.mark.parametrize("group", list(aws_names.LOG_GROUPS.values()))
def test_log_group_exists_with_the_retention_policy(target, settings, group):
    days = settings.profile.get("logs.retention_days", aws_names.LOG_RETENTION_DAYS)
    found = [g for g in target.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
             if g["logGroupName"] == group]
    assert found, f"CloudWatch log group {group}: expected to exist (aws logs describe-log-groups), it does not"
    retention = found[0].get("retentionInDays")
    assert retention == days, (
        f"CloudWatch log group {group}: expected retention {days} days, got {retention or 'never expire'}"
    )

