"""Read FiLot's Redis configuration as ``redis-cli CONFIG GET`` does, and make sense of its flags.

A managed Redis may refuse ``CONFIG`` (renamed or ACL-denied): that is not a finding about the
deployment but something the gate could not observe, so it raises :class:`TargetUnavailable`.
"""

from __future__ import annotations

from typing import Any

from filot_gate.target import TargetUnavailable

#: What the ``A`` flag of ``notify-keyspace-events`` stands for (redis.conf: "Alias for g$lshzxetd").
_ALL_CLASSES = "g$lshzxetd"


def redis_config(client: Any, name: str) -> str:
    """The value of one configuration parameter."""
    import redis

    try:
        found = client.config_get(name)
    except redis.ResponseError as exc:
        raise TargetUnavailable(f"Redis refused CONFIG GET {name} ({exc}); the gate cannot check it on this target") from None
    if name not in found:
        raise TargetUnavailable(f"Redis has no configuration parameter {name} (CONFIG GET returned {sorted(found)})")
    return found[name]


def keyspace_flags(value: str) -> set[str]:
    """The single event classes a ``notify-keyspace-events`` value enables, with ``A`` expanded."""
    return set(value.replace("A", _ALL_CLASSES))
