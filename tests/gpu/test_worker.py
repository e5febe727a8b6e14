"""GPU: the OCR worker is alive and polling the queue (seed 000 section 3, seed 001 "Redis keys")."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from filot_contract import redis_keys

pytestmark = pytest.mark.gpu


def heartbeats(redis_client) -> list[dict]:
    keys = list(redis_client.scan_iter(redis_keys.WORKER_HEARTBEAT_PATTERN, count=100))
    return [json.loads(value) for key in keys if (value := redis_client.get(key))]


def test_worker_heartbeat_is_fresh_and_it_polls_the_queue(redis_client, settings, evidence):
    max_age = settings.profile.get("deadlines.heartbeat_max_age_s", 15)
    beats = heartbeats(redis_client)
    evidence.add("worker heartbeats", beats)
    assert beats, (
        f"Redis {redis_keys.WORKER_HEARTBEAT_PATTERN}: expected at least one live OCR worker heartbeat, found none"
        " (no worker has refreshed its key within its TTL)"
    )
    now = time.time()
    for beat in beats:
        polled = datetime.fromisoformat(beat["lastPollAt"].replace("Z", "+00:00")).timestamp()
        assert now - polled <= max_age, (
            f"worker {beat['workerId']}: expected a poll of {redis_keys.OCR_QUEUE} within {max_age}s,"
            f" last poll {now - polled:.0f}s ago (state {beat.get('state')})"
        )
        assert beat.get("queue") == redis_keys.OCR_QUEUE, (
            f"worker {beat['workerId']}: expected to poll {redis_keys.OCR_QUEUE}, polls {beat.get('queue')}"
        )
