"""Read FiLot's Redis configuration as ``redis-cli CONFIG GET`` does, and make sense of its flags.

What ``CONFIG GET`` shows depends on who runs the Redis. A self-managed Redis answers every
parameter. Upstash (production's Redis, seed 003) answers only ``notify-keyspace-events``; its
persistence and eviction are settings of the database in the Upstash console. The profile says which
(``[redis] provider``): a parameter the provider is known not to expose is skipped with the place an
operator checks it instead; any other refusal is something the gate could not observe, so it raises
:class:`TargetUnavailable` (the run is inconclusive, never falsely green).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import pytest

from filot_gate.target import TargetUnavailable

#: What the ``A`` flag of ``notify-keyspace-events`` stands for (redis.conf: "Alias for g$lshzxetd").
_ALL_CLASSES = "g$lshzxetd"


@dataclass(frozen=True)
class RedisProvider:
    """Who runs FiLot's Redis, and where each parameter it hides from ``CONFIG GET`` is checked instead."""

    name: str
    hidden: Mapping[str, str] = field(default_factory=dict)


REDIS_PROVIDERS: dict[str, RedisProvider] = {
    provider.name: provider
    for provider in (
        RedisProvider("self-managed"),
        RedisProvider("upstash", {
            "appendonly": "Upstash has no AOF setting: it keeps every key in its Durable Storage as well as in"
                          " memory, so queued jobs survive a restart without one (nothing to set)",
            "maxmemory-policy": "Upstash console, the database's Configuration: Eviction must be disabled"
                                " (Upstash then refuses writes at the size limit instead of evicting queue keys)",
            "maxmemory": "Upstash console, the database's Usage: the plan's max data size is its memory limit,"
                         " and the data size must leave room for a deploy's burst of jobs",
        }),
    )
}


def redis_config(client: Any, name: str, provider: RedisProvider) -> str:
    """The value of one configuration parameter; skips the test where ``provider`` does not expose it."""
    import redis

    try:
        found = client.config_get(name)
    except redis.ResponseError as exc:
        _skip_if_hidden(provider, name, f"refused CONFIG GET {name}: {exc}")
        raise TargetUnavailable(f"Redis refused CONFIG GET {name} ({exc}); the gate cannot check it on this target"
                                f" (profile [redis] provider = {provider.name!r})") from None
    if name not in found:
        _skip_if_hidden(provider, name, f"CONFIG GET {name} returned nothing")
        raise TargetUnavailable(f"Redis has no configuration parameter {name} (CONFIG GET returned {sorted(found)};"
                                f" profile [redis] provider = {provider.name!r})")
    return found[name]


def _skip_if_hidden(provider: RedisProvider, name: str, seen: str) -> None:
    if name in provider.hidden:
        pytest.skip(f"Redis provider {provider.name} does not expose {name} ({seen}): {provider.hidden[name]}")


def keyspace_flags(value: str) -> set[str]:
    """The single event classes a ``notify-keyspace-events`` value enables, with ``A`` expanded."""
    return set(value.replace("A", _ALL_CLASSES))
