"""What the gate makes of CONFIG GET per Redis provider, with a client that answers as Upstash does:
nothing at all (no error) for a parameter it does not expose. The refused-by-ACL path runs against a
real Redis in test_faults_preflight.py."""

from __future__ import annotations

import pytest

from filot_gate.redis_config import REDIS_PROVIDERS, redis_config
from filot_gate.target import TargetUnavailable


class UpstashLikeConfig:
    """CONFIG GET that shows only some parameters and answers an empty reply for the rest."""

    def __init__(self, **shown: str) -> None:
        self.shown = {name.replace("_", "-"): value for name, value in shown.items()}

    def config_get(self, name: str) -> dict[str, str]:
        return {name: self.shown[name]} if name in self.shown else {}


def test_upstash_hidden_parameter_is_skipped_naming_the_console_setting():
    with pytest.raises(pytest.skip.Exception) as skipped:
        redis_config(UpstashLikeConfig(notify_keyspace_events="KA"), "maxmemory-policy", REDIS_PROVIDERS["upstash"])
    assert str(skipped.value) == (
        "Redis provider upstash does not expose maxmemory-policy (CONFIG GET maxmemory-policy returned nothing):"
        f" {REDIS_PROVIDERS['upstash'].hidden['maxmemory-policy']}")
    assert "Eviction must be disabled" in str(skipped.value)


def test_upstash_shown_value_is_returned_for_the_check():
    client = UpstashLikeConfig(notify_keyspace_events="", appendonly="no")
    assert redis_config(client, "notify-keyspace-events", REDIS_PROVIDERS["upstash"]) == ""
    assert redis_config(client, "appendonly", REDIS_PROVIDERS["upstash"]) == "no"


def test_self_managed_redis_without_the_parameter_is_inconclusive():
    with pytest.raises(TargetUnavailable, match=r"Redis has no configuration parameter appendonly .*'self-managed'"):
        redis_config(UpstashLikeConfig(), "appendonly", REDIS_PROVIDERS["self-managed"])
