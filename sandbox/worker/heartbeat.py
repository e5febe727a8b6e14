"""The worker's heartbeat: its state as JSON under ``redis_keys.worker_heartbeat`` with a TTL.

The key expiring is how other workers' reapers (and the gate) learn that a worker is gone.
"""

from __future__ import annotations

import json
import logging
import threading

import redis

from filot_contract import redis_keys
from sandbox.jsonlog import fields
from sandbox.worker.state import WorkerState

log = logging.getLogger(__name__)

#: The heartbeat is refreshed on every poll and, when busy, at least this often.
REFRESH_S = redis_keys.HEARTBEAT_TTL_S / 3


class Heartbeat:
    """Writes the heartbeat key; ``run`` refreshes it from a thread until told to halt."""

    def __init__(self, client: redis.Redis, state: WorkerState) -> None:
        self._redis = client
        self._state = state
        self.key = redis_keys.worker_heartbeat(state.worker_id)

    def beat(self) -> None:
        self._redis.set(self.key, json.dumps(self._state.heartbeat()), ex=redis_keys.HEARTBEAT_TTL_S)

    def run(self, halt: threading.Event) -> None:
        while not halt.wait(REFRESH_S):
            try:
                self.beat()
            except redis.RedisError as error:
                log.warning("heartbeat not written: Redis unreachable or refusing commands", extra=fields(key=self.key, error=str(error)))

    def clear(self) -> None:
        """Remove the key on a clean shutdown, so nobody waits a TTL to learn the worker is gone."""
        self._redis.delete(self.key)
