"""Accepting a document: object in the bucket, row in ``documents``, job on the OCR queue, as one step.

The steps run in that order with an undo for each, and the job is pushed only after the row is
committed: a worker that answers at once finds the document (the results consumer drops a result
for a document it does not know). Any failure leaves nothing behind: the object is deleted, the
committed row deleted again, the job removed (even when the LPUSH itself failed, since a timed-out
push may still have landed). A crash of the whole task between COMMIT and LPUSH leaves a ``queued``
document without a job: ``requeue_lost_jobs``, run periodically by every backend task, pushes the job
again, rebuilt from the row, once the document has been queued for ``REQUEUE_AFTER_S`` and Redis holds
its job nowhere (queue, processing, claims, stored results, dead letters). A job pushed twice does no
harm: the results consumer applies a document's result once.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass

import psycopg
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis
from redis.exceptions import RedisError

from filot_contract.documents import VerificationStatus
from filot_contract.messages import DocumentType, OcrJob, job_id_of
from filot_contract.redis_keys import OCR_CLAIMS, OCR_DEAD_LETTER, OCR_PROCESSING, OCR_QUEUE, OCR_RESULTS_STORE
from sandbox.api.auth import Principal
from sandbox.api.db import Connection, set_status
from sandbox.api.errors import ApiError
from sandbox.api.images import CardImage
from sandbox.api.logs import event, one_line
from sandbox.api.storage import ObjectStore, StorageError

log = logging.getLogger("filot.api.uploads")

#: Documents one look for lost jobs re-queues at most (the rest wait for the next look).
REQUEUE_BATCH = 100
#: Where Redis may hold a job: the queue, the processing list and the dead letters (job JSON), then the
#: claims and the stored results (hashes by job id).
_JOB_LISTS = (OCR_QUEUE, OCR_PROCESSING, OCR_DEAD_LETTER)
_JOB_HASHES = (OCR_CLAIMS, OCR_RESULTS_STORE)
_JOB_PLACES = _JOB_LISTS + _JOB_HASHES
#: LPUSH ARGV[2] onto KEYS[1] unless job id ARGV[1] is in one of the places: atomic, so that two backend
#: tasks looking at once push it once. It scans the lists, so it runs only for jobs found lost.
_PUSH_UNLESS_HELD = """
for i = 1, 3 do
  for _, raw in ipairs(redis.call('LRANGE', KEYS[i], 0, -1)) do
    if string.find(raw, ARGV[1], 1, true) then return 0 end
  end
end
if redis.call('HEXISTS', KEYS[4], ARGV[1]) == 1 or redis.call('HEXISTS', KEYS[5], ARGV[1]) == 1 then return 0 end
redis.call('LPUSH', KEYS[1], ARGV[2])
return 1
"""


@dataclass
class Uploads:
    """The dependencies of an upload."""

    pool: AsyncConnectionPool
    redis: Redis
    store: ObjectStore

    async def accept(self, principal: Principal, document_type: DocumentType, image: CardImage) -> OcrJob:
        """Store, record and enqueue one document; 503 naming the dependency that failed."""
        document_id = uuid.uuid4()
        job = OcrJob(
            jobId=str(uuid.uuid4()),
            documentId=str(document_id),
            documentType=document_type,
            bucket=self.store.bucket,
            objectKey=f"documents/{document_type.lower()}/{document_id}.{image.extension}",
            traceId=uuid.uuid4().hex,
        )
        try:
            async with AsyncExitStack() as undo:
                await self.store.put(job.objectKey, image.data, image.content_type)
                undo.push_async_callback(self._delete_object, job.objectKey)
                async with self.pool.connection() as conn, conn.transaction():
                    await _insert_document(conn, principal, job, image)
                undo.push_async_callback(self._delete_document, job.documentId)
                # only after the commit: a worker that answers at once must find the document, as the
                # results consumer drops a result for a document it does not know
                undo.push_async_callback(self._remove_job, job.to_json())
                await self.redis.lpush(OCR_QUEUE, job.to_json())
                undo.pop_all()
        except StorageError as error:
            raise ApiError(503, f"document storage unavailable, nothing was stored: {error}") from None
        except psycopg.Error as error:
            raise ApiError(503, f"database unavailable, nothing was stored: {one_line(error)}") from None
        except RedisError as error:
            raise ApiError(503, f"job queue (Redis) unavailable, nothing was stored: {error}") from None
        event(
            log,
            logging.INFO,
            "document queued",
            documentId=job.documentId,
            jobId=job.jobId,
            documentType=document_type,
            bytes=len(image.data),
            traceId=job.traceId,
        )
        return job

    async def requeue_lost_jobs(self, queued_for_s: float) -> list[str]:
        """Push again the job of every document queued for ``queued_for_s`` whose job Redis holds nowhere;
        the job ids pushed. Redis is read once per look; each lost job is checked again as it is pushed."""
        held = await self._held_job_ids()
        async with self.pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT id, document_type, bucket, object_key, job_id, trace_id FROM documents"
                " WHERE verification_status = 'queued' AND updated_at < now() - make_interval(secs => %s)"
                " AND NOT job_id::text = ANY(%s) ORDER BY updated_at LIMIT %s", (queued_for_s, sorted(held), REQUEUE_BATCH))
            rows = await cursor.fetchall()
        pushed = []
        for row in rows:
            job = OcrJob(jobId=str(row["job_id"]), documentId=str(row["id"]), documentType=row["document_type"],
                         bucket=row["bucket"], objectKey=row["object_key"], traceId=row["trace_id"])
            if await self.redis.eval(_PUSH_UNLESS_HELD, len(_JOB_PLACES), *_JOB_PLACES, job.jobId, job.to_json()):
                pushed.append(job.jobId)
                event(log, logging.WARNING, "job re-queued: its document was queued without it", documentId=job.documentId,
                      jobId=job.jobId, traceId=job.traceId)
        return pushed

    async def _held_job_ids(self) -> set[str]:
        """The id of every job in one of Redis's places for it."""
        listed = [raw for key in _JOB_LISTS for raw in await self.redis.lrange(key, 0, -1)]
        keyed = [job_id for key in _JOB_HASHES for job_id in await self.redis.hkeys(key)]
        return {job_id for job_id in (*map(job_id_of, listed), *keyed) if job_id}

    async def _delete_object(self, key: str) -> None:
        try:
            await self.store.delete(key)
        except StorageError as error:
            event(log, logging.ERROR, "undo failed: object left in the bucket", objectKey=key, error=str(error))

    async def _delete_document(self, document_id: str) -> None:
        try:
            async with self.pool.connection() as conn:
                await conn.execute("DELETE FROM documents WHERE id = %s", (document_id,))
        except psycopg.Error as error:
            event(log, logging.ERROR, "undo failed: document row left queued without a job", documentId=document_id,
                  error=one_line(error))

    async def _remove_job(self, job_json: str) -> None:
        try:
            await self.redis.lrem(OCR_QUEUE, 1, job_json)
        except RedisError as error:
            event(log, logging.ERROR, "undo failed: job may be left on the queue", job=job_json, error=str(error))


async def _insert_document(conn: Connection, principal: Principal, job: OcrJob, image: CardImage) -> None:
    cursor = await conn.execute(
        "INSERT INTO users (external_id, role) VALUES (%s, %s)"
        " ON CONFLICT (external_id) DO UPDATE SET last_seen_at = now(), role = EXCLUDED.role RETURNING id",
        (principal.subject, principal.role),
    )
    user = await cursor.fetchone()
    assert user is not None  # INSERT ... RETURNING always returns the row
    await conn.execute(
        "INSERT INTO documents (id, user_id, document_type, bucket, object_key, content_type, size_bytes,"
        " job_id, trace_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            job.documentId,
            user["id"],
            job.documentType,
            job.bucket,
            job.objectKey,
            image.content_type,
            len(image.data),
            job.jobId,
            job.traceId,
        ),
    )
    await set_status(conn, job.documentId, VerificationStatus.QUEUED, detail=f"job {job.jobId}")
