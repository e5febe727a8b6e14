"""Synthetic data of one gate run: tagged with the run id, counted, and removed afterwards.

Everything the gate creates on the target (documents through the API, objects in the bucket, jobs on
the queue, callbacks, rate-limit counters of its synthetic users) is registered here the moment it
exists, and ``clean_up`` removes it at the end of the session, also when a test failed. A cleanup that
cannot finish warns with what it left behind; it never fails a gate.

The number of documents a run may create is capped by the profile's ``e2e.max_documents``: a Redis
counter per run id, shared by the run's xdist workers, is incremented before each upload.
"""

from __future__ import annotations

import logging
import uuid
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Iterator

import pytest

from filot_contract import redis_keys

if TYPE_CHECKING:
    from filot_gate.target import Target

log = logging.getLogger("filot_gate.synthetic")

DEFAULT_MAX_DOCUMENTS = 10
#: Every object the gate puts in the bucket itself lives under this prefix (plus the run id).
OBJECT_PREFIX = "filot-gate"


class BudgetExhausted(Exception):
    """The run already created ``e2e.max_documents`` documents; creating another would load FiLot."""


class CleanupWarning(UserWarning):
    """Something the gate created could not be removed; the message says what and where."""


@dataclass
class SyntheticData:
    """What this process of the run created, and how to remove it."""

    target: "Target"
    run_id: str
    redis_client: Any
    max_documents: int = DEFAULT_MAX_DOCUMENTS
    documents: list[str] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    objects: list[tuple[str, str]] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    callbacks: list[str] = field(default_factory=list)

    # --- naming and registering ----------------------------------------------------------------------

    def subject(self, purpose: str = "user") -> str:
        """The JWT subject of a synthetic user of this run (``filot-gate-<run id>-<purpose>``)."""
        name = f"filot-gate-{self.run_id}-{purpose}"
        if name not in self.subjects:
            self.subjects.append(name)
        return name

    def reserve_document(self) -> int:
        """Count one more document of this run, or raise BudgetExhausted; returns the count."""
        key = redis_keys.gate_documents(self.run_id)
        ttl_s = int(self.target.settings.gate_deadline) + 60  # the counter only has to outlive the run
        count, _ = self.redis_client.pipeline(transaction=True).incr(key).expire(key, ttl_s).execute()
        if count > self.max_documents:
            raise BudgetExhausted(
                f"run {self.run_id} has already created {self.max_documents} documents, the profile's"
                f" [e2e] max_documents ({self.target.settings.profile.path}); select fewer tests or raise the cap")
        return count

    def add_document(self, document_id: str, job_id: str) -> None:
        self.documents.append(document_id)
        self.jobs.append(job_id)

    def add_job(self, job_id: str) -> None:
        self.jobs.append(job_id)

    def add_callback(self, callback_id: str) -> None:
        self.callbacks.append(callback_id)

    # --- the bucket ------------------------------------------------------------------------------------

    @cached_property
    def object_store(self) -> Any:
        """An S3 client of FiLot's bucket (Cloudflare R2 or any S3 API) with the CF_R2_* secret."""
        import boto3

        from botocore.config import Config

        from filot_gate.deploy.calls import aws_client_config

        secret = self.target.secret("cf-r2")
        # SigV4 always: R2 takes no other, and botocore presigns with SigV2 for region us-east-1 (R2's alias of auto)
        return boto3.client(
            "s3", endpoint_url=secret["CF_R2_ENDPOINT"], aws_access_key_id=secret["CF_R2_ACCESS_KEY_ID"],
            aws_secret_access_key=secret["CF_R2_SECRET_ACCESS_KEY"], region_name=secret.get("CF_R2_REGION", "auto"),
            config=aws_client_config().merge(Config(signature_version="s3v4")))

    @property
    def bucket(self) -> str:
        return self.target.secret_key("cf-r2", "CF_R2_BUCKET_NAME")

    def put_object(self, body: bytes, suffix: str, content_type: str) -> tuple[str, str]:
        """Put ``body`` in FiLot's bucket under this run's prefix; returns (bucket, key)."""
        key = f"{OBJECT_PREFIX}/{self.run_id}/{uuid.uuid4()}{suffix}"
        self.objects.append((self.bucket, key))
        self.object_store.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type,
                                     Metadata={"filot-gate-run": self.run_id})
        return self.bucket, key

    # --- cleanup -------------------------------------------------------------------------------------

    def clean_up(self) -> list[str]:
        """Remove everything registered; returns what was removed, warns about what was not."""
        done: list[str] = []
        for step in (self._rows, self._redis_keys, self._objects):
            try:
                done.extend(step())
            except _cleanup_errors() as error:
                warnings.warn(CleanupWarning(f"run {self.run_id}: {step.__name__.strip('_')} not cleaned up:"
                                             f" {type(error).__name__}: {error}"), stacklevel=1)
        log.info("synthetic data of run %s removed: %s", self.run_id, "; ".join(done) or "nothing to remove")
        return done

    def _rows(self) -> list[str]:
        if not self.documents and not self.subjects:
            return []
        with self.target.db() as conn:
            rows = conn.execute("SELECT bucket, object_key, job_id::text FROM documents WHERE id = ANY(%s::uuid[])",
                                (self.documents,)).fetchall()
            self.objects.extend((bucket, key) for bucket, key, _ in rows)
            self.jobs.extend(job for _, _, job in rows if job not in self.jobs)
            settled_by = conn.execute("SELECT callback_id FROM manual_reviews WHERE document_id = ANY(%s::uuid[])"
                                      " AND callback_id IS NOT NULL", (self.documents,)).fetchall()
            self.callbacks.extend(callback for (callback,) in settled_by if callback not in self.callbacks)
            deleted = conn.execute("DELETE FROM documents WHERE id = ANY(%s::uuid[])", (self.documents,)).rowcount
            users = conn.execute("DELETE FROM users u WHERE external_id = ANY(%s) AND NOT EXISTS"
                                 " (SELECT 1 FROM documents d WHERE d.user_id = u.id)", (self.subjects,)).rowcount
        return [f"{deleted} document(s) with their history, results and reviews", f"{users} synthetic user(s)"]

    def _redis_keys(self) -> list[str]:
        if not (self.jobs or self.documents or self.callbacks or self.subjects):
            return []
        r = self.redis_client
        removed = 0
        for job in self.jobs:
            removed += sum(r.hdel(key, job) for key in
                           (redis_keys.OCR_RESULTS_STORE, redis_keys.OCR_ATTEMPTS, redis_keys.OCR_CLAIMS))
            for key in (redis_keys.OCR_QUEUE, redis_keys.OCR_PROCESSING, redis_keys.OCR_DEAD_LETTER):
                removed += sum(r.lrem(key, 0, raw) for raw in r.lrange(key, 0, -1) if job in raw)
        escalations = [m for m in r.zrange(redis_keys.BULI2_RETRY_QUEUE, 0, -1) if any(d in m for d in self.documents)]
        removed += r.zrem(redis_keys.BULI2_RETRY_QUEUE, *escalations) if escalations else 0
        keys = [redis_keys.callback_seen(c) for c in self.callbacks]
        for subject in self.subjects:
            keys.extend(r.scan_iter(f"{redis_keys.RATE_LIMIT_PREFIX}*:{subject}:*", count=1000))
        removed += r.delete(*keys) if keys else 0
        return [f"{removed} Redis entr(ies) of {len(self.jobs)} job(s), callbacks and rate-limit counters"]

    def _objects(self) -> list[str]:
        from botocore.exceptions import ClientError

        refused: list[ClientError] = []
        for bucket, key in self.objects:
            try:
                self.object_store.delete_object(Bucket=bucket, Key=key)
            except ClientError as error:  # a put into a bucket that does not exist left nothing behind
                if error.response.get("Error", {}).get("Code") != "NoSuchBucket":
                    refused.append(error)
        if refused:
            raise refused[0]
        return [f"{len(self.objects)} object(s)"] if self.objects else []


def _cleanup_errors() -> tuple[type[Exception], ...]:
    """What a cleanup step may run into: an unreachable database, Redis, bucket or Secrets Manager."""
    import psycopg
    import redis
    from botocore.exceptions import BotoCoreError, ClientError

    from filot_gate.target import TargetUnavailable

    return psycopg.Error, redis.RedisError, BotoCoreError, ClientError, TargetUnavailable


@pytest.fixture(scope="session")
def synthetic(target: "Target", run_id: str, redis_client: Any) -> Iterator[SyntheticData]:
    """This process's synthetic data of the run (the storage probe, the sample job, e2e's documents), removed
    at the end of the session whatever happened (the root conftest makes it every gate's fixture)."""
    data = SyntheticData(target, run_id, redis_client,
                         int(target.settings.profile.get("e2e.max_documents", DEFAULT_MAX_DOCUMENTS)))
    yield data
    data.clean_up()
