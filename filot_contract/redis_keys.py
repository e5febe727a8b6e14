"""Every Redis key and channel FiLot uses, named once (seed 001, DESIGN.md section 3)."""

from __future__ import annotations

#: List: the API LPUSHes job JSON; workers claim with BLMOVE RIGHT -> LEFT into PROCESSING.
OCR_QUEUE = "filot:ocr:gpu:queue"
#: List: raw job JSON claimed by a worker and not yet acknowledged.
OCR_PROCESSING = "filot:ocr:gpu:processing"
#: Hash: jobId -> number of attempts so far.
OCR_ATTEMPTS = "filot:ocr:gpu:attempts"
#: Pub/sub channel: the worker publishes each result JSON here (at-most-once).
OCR_RESULTS_CHANNEL = "filot:ocr:gpu:results"
#: Hash: jobId -> result JSON, written in the same transaction as the publish; the backend deletes
#: an entry once the result is applied, and reconciles the rest on start (no result lost).
OCR_RESULTS_STORE = "filot:ocr:gpu:results:store"
#: Hash: jobId -> claim JSON {"workerId", "claimedAt"}; the reaper re-queues claims of dead workers.
OCR_CLAIMS = "filot:ocr:gpu:claims"
#: List: job JSON (with "error" and "attempts") that failed OCR_GPU_MAX_RETRIES times.
OCR_DEAD_LETTER = "filot:ocr:gpu:dead_letter"
#: String with a TTL (SET NX PX): the worker whose reaper sweeps OCR_PROCESSING this interval.
OCR_REAPER_LOCK = "filot:ocr:gpu:reaper:lock"
#: Prefix of each worker's heartbeat key (a JSON string with a TTL).
OCR_WORKER_HEARTBEAT_PREFIX = "filot:ocr:gpu:worker:"
#: Sorted set: escalation JSON scored by the epoch second of its next delivery attempt.
BULI2_RETRY_QUEUE = "filot:buli2:retry_queue"
#: Prefix of the keys that remember a BULI2 callback id (SET NX with a TTL: replay -> 409).
BULI2_CALLBACK_SEEN_PREFIX = "filot:buli2:callback:"
#: Prefix of the per-client rate-limit counters of the API.
RATE_LIMIT_PREFIX = "filot:ratelimit:"
#: Prefix of the gate's per-environment run lock.
GATE_LOCK_PREFIX = "filot:gate:lock:"
#: Prefix of the counter of documents one gate run has created (shared by its xdist workers, so the
#: run stays within the profile's ``e2e.max_documents``).
GATE_DOCUMENTS_PREFIX = "filot:gate:documents:"

#: Keyspace events FiLot's Redis must publish (K = keyspace, A = all classes) so that the gate can
#: follow a job without polling.
KEYSPACE_EVENTS = "KA"
#: The only eviction policy under which queue keys are never evicted.
REQUIRED_EVICTION_POLICY = "noeviction"

#: Heartbeat lifetime: a worker refreshes its key at least every third of this.
HEARTBEAT_TTL_S = 15


def worker_heartbeat(worker_id: str) -> str:
    """The heartbeat key of one worker."""
    return f"{OCR_WORKER_HEARTBEAT_PREFIX}{worker_id}:heartbeat"


WORKER_HEARTBEAT_PATTERN = f"{OCR_WORKER_HEARTBEAT_PREFIX}*:heartbeat"


def callback_seen(callback_id: str) -> str:
    """The key that marks a BULI2 callback id as accepted."""
    return f"{BULI2_CALLBACK_SEEN_PREFIX}{callback_id}"


def gate_lock(environment: str) -> str:
    """The lock key of one environment's gate run."""
    return f"{GATE_LOCK_PREFIX}{environment}"


def gate_documents(run_id: str) -> str:
    """The counter of documents created by one gate run."""
    return f"{GATE_DOCUMENTS_PREFIX}{run_id}"


def keyspace_channel(key: str, db: int = 0) -> str:
    """The keyspace-notification channel of a key."""
    return f"__keyspace@{db}__:{key}"
