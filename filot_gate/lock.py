"""One gate run per environment at a time: a key with a TTL in the target's Redis.

A second run refuses to start and names the holder's run id. When Redis cannot be reached the run
goes on without the lock (the preflight gate will fail on Redis and block every mutating gate) and
the report says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from filot_contract.redis_keys import gate_lock

if TYPE_CHECKING:
    from filot_gate.target import Target

DEFAULT_TTL_S = 3600
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) else return 0 end"


class LockHeld(Exception):
    """Another run holds this environment's lock."""


@dataclass
class LockState:
    key: str
    held: bool
    holder: str | None
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


def acquire(target: "Target", environment: str, run_id: str, ttl_s: int) -> LockState:
    """Take the lock or raise ``LockHeld``; an unreachable Redis gives an unheld state that says why."""
    import redis

    from filot_gate.target import TargetUnavailable

    key = gate_lock(environment)
    try:
        client = target.redis()
        if client.set(key, run_id, nx=True, ex=ttl_s):
            return LockState(key, True, run_id, f"taken for {ttl_s}s")
        holder, ttl = client.get(key), client.ttl(key)
    except (redis.RedisError, OSError, ValueError, TargetUnavailable) as exc:
        return LockState(key, False, None, f"not taken: Redis unreachable ({type(exc).__name__}: {exc})")
    raise LockHeld(
        f"environment {environment!r} is being gated by run {holder} (Redis key {key}, expires in {ttl}s);"
        f" wait for that run to finish, or, if it is known to be dead, delete the key: redis-cli -u \"$REDIS_URL\""
        f" DEL {key} (REDIS_URL of secret {target.secrets_prefix}/redis, or the profile's [target] redis_url;"
        f" add --cacert for a private CA)"
    )


def release(target: "Target", state: LockState, run_id: str) -> None:
    if not state.held:
        return
    import redis

    try:
        target.redis().eval(_RELEASE, 1, state.key, run_id)
        state.held, state.detail = False, "released"
    except (redis.RedisError, OSError) as exc:
        state.detail = f"not released ({exc}); it expires on its own"


def renew(target: "Target", state: LockState, run_id: str, ttl_s: int) -> bool:
    """Before a mutation: extend the lock's TTL (or take it again when it expired and nobody took it);
    False when another run holds it now.

    A run that never held the lock (Redis unreachable at the start), or cannot reach Redis now, goes on
    as it began: without the lock, which the report already says.
    """
    if not state.held:
        return True
    import redis

    try:
        client = target.redis()
        if client.eval(_RENEW, 1, state.key, run_id, ttl_s):
            state.detail = f"renewed for {ttl_s}s before the rollback"
            return True
        if client.set(state.key, run_id, nx=True, ex=ttl_s):  # it expired and nobody took it
            state.detail = f"expired, taken again for {ttl_s}s before the rollback"
            return True
        holder = client.get(state.key)
    except (redis.RedisError, OSError) as exc:
        state.detail = f"not renewed ({exc}); the rollback goes on"
        return True
    state.held, state.holder = False, holder
    state.detail = f"lost: its TTL passed and run {holder} holds {state.key} now"
    return False
