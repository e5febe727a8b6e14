"""Preflight: FiLot's Redis (seed 000 section 0, seed 002 section 3, seed 003 "Redis TLS")."""

from __future__ import annotations

import pytest
import redis

from filot_contract.redis_keys import KEYSPACE_EVENTS, OCR_QUEUE, REQUIRED_EVICTION_POLICY
from filot_gate.redis_config import keyspace_flags, redis_config

pytestmark = pytest.mark.preflight

#: The share of maxmemory FiLot's Redis may already use when a deploy starts: with noeviction a full
#: Redis refuses every new job, and a deploy's restarts re-queue and re-publish in a burst.
DEFAULT_MAX_MEMORY_USED_PERCENT = 80
MIB = 1024 * 1024


def test_redis_url_uses_tls_scheme(target):
    scheme = target.redis_url.split("://", 1)[0]
    assert scheme == "rediss", (
        f"REDIS_URL (secret {target.secrets_prefix}/redis): expected scheme rediss:// (TLS), got {scheme}://"
    )


def test_redis_answers_over_tls_and_requires_auth(target):
    where = target.redactor.text(target.redis_url)
    try:
        target.redis().ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis {where}: expected PONG over TLS with the secret's password, got {type(exc).__name__}: {exc}")
    try:
        target.redis(anonymous=True).ping()
    except redis.AuthenticationError:
        return
    except redis.ResponseError as exc:
        assert "NOAUTH" in str(exc), f"Redis {where} without password: expected NOAUTH, got {exc}"
        return
    pytest.fail(f"Redis {where}: answered PING without a password; expected authentication to be required")


def test_redis_never_evicts_queue_keys(redis_client, redis_provider):
    policy = redis_config(redis_client, "maxmemory-policy", redis_provider)
    assert policy == REQUIRED_EVICTION_POLICY, (
        f"Redis maxmemory-policy: expected {REQUIRED_EVICTION_POLICY} (queue keys must never be evicted), got {policy}"
    )


def test_redis_persists_with_append_only_file(redis_client, redis_provider):
    appendonly = redis_config(redis_client, "appendonly", redis_provider)
    assert appendonly == "yes", (
        f"Redis appendonly: expected yes (AOF persistence, so queued jobs survive a restart; seed 002 section 3), got {appendonly}"
    )


def test_redis_publishes_the_keyspace_events_the_gate_follows(redis_client, redis_provider):
    flags = redis_config(redis_client, "notify-keyspace-events", redis_provider)
    missing = keyspace_flags(KEYSPACE_EVENTS) - keyspace_flags(flags)
    assert not missing, (
        f"Redis notify-keyspace-events: expected at least {KEYSPACE_EVENTS!r} (the gate follows jobs through keyspace"
        f" events of {OCR_QUEUE}), got {flags!r}, missing {''.join(sorted(missing))!r}"
    )


def test_redis_has_a_memory_limit_with_room_left(redis_client, redis_provider, settings, evidence):
    limit = int(redis_config(redis_client, "maxmemory", redis_provider))
    assert limit > 0, (
        "Redis maxmemory: expected a limit (seed 002 section 3 'Set appropriate memory limits'), got 0: unlimited,"
        " a runaway queue grows until the host kills Redis")
    memory = redis_client.info("memory")
    used = int(memory["used_memory"]) - int(memory.get("mem_not_counted_for_evict", 0))  # as maxmemory counts it
    allowed = settings.profile.get("redis.max_memory_used_percent", DEFAULT_MAX_MEMORY_USED_PERCENT)
    evidence.add("Redis memory", {"maxmemory": limit, "used_memory": used, "used percent": round(100 * used / limit, 1),
                                  "allowed percent": allowed})
    assert 100 * used <= allowed * limit, (
        f"Redis memory: expected at most {allowed}% of maxmemory ({limit / MIB:.1f} MiB) used before a deploy, since a"
        f" full Redis with noeviction refuses new jobs; {used / MIB:.1f} MiB ({100 * used / limit:.0f}%) is used")
