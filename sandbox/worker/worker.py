"""The OCR worker loop: poll/claim, run, publish + ack; heartbeat; reaper; bounded shutdown.

The main thread only claims jobs (BLMOVE with the poll interval as timeout, so it wakes regularly to
notice a shutdown) and hands each to a thread of its own, at most ``OCR_GPU_CONCURRENCY`` at once (OCR
libraries release the GIL). The heartbeat and the reaper run on their own threads. Job threads are
daemons: a shutdown waits for them up to ``SHUTDOWN_GRACE_S`` and returns what is left to the queue.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import redis
from pydantic import ValidationError
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_delay,
    stop_when_event_set,
    wait_exponential,
)

from filot_contract.log_lines import JOB_FINISHED
from filot_contract.messages import OcrJob, OcrResult, utc_now_iso
from sandbox.jsonlog import fields
from sandbox.worker.engines import Recognizer
from sandbox.worker.heartbeat import Heartbeat
from sandbox.worker.jobqueue import Claim, JobQueue
from sandbox.worker.reaper import Reaper
from sandbox.worker.settings import WorkerSettings
from sandbox.worker.state import WorkerState

log = logging.getLogger(__name__)

#: Within ECS's default stopTimeout (30 s): in-flight jobs get this long to finish on SIGTERM.
SHUTDOWN_GRACE_S = 25.0
#: Delay before a failed job goes back to the queue: base * 2^(attempt-1), capped.
RETRY_BACKOFF_S = 0.5
RETRY_BACKOFF_MAX_S = 10.0
#: How long the worker waits for Redis at start before it gives up (and ECS restarts it).
STARTUP_REDIS_DEADLINE_S = 60.0
#: The health check calls the loop stalled when it has not gone round for this long.
STALL_AFTER_S = 30.0

REDIS_UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)


class RedisUnreachable(Exception):
    """Redis did not answer within the start-up deadline."""


class Worker:
    """One OCR worker process: build it, call ``run()``; ``stop()`` (from a signal) ends it."""

    def __init__(
        self, settings: WorkerSettings, client: redis.Redis, probe: redis.Redis, storage: Any, recognizer: Recognizer,
        job_line_level: int = logging.INFO,
    ) -> None:
        self.settings = settings
        self._redis = client
        self._probe = probe  # short timeouts, for the health check
        self._storage = storage
        self._recognizer = recognizer
        self._job_line_level = job_line_level
        self.state = WorkerState(
            settings.worker_id, recognizer.engine, recognizer.device, settings.queue_key, settings.concurrency
        )
        self.queue = JobQueue(client, settings)
        self.heartbeat = Heartbeat(client, self.state)
        self.reaper = Reaper(client, self.queue, settings.worker_id, settings.visibility_timeout_s)
        self._stop = threading.Event()  # no new jobs; retry back-offs end early
        self._halt = threading.Event()  # background threads end (after the in-flight jobs)
        self._slots = threading.BoundedSemaphore(settings.concurrency)
        self._in_flight: dict[str, tuple[Claim, threading.Thread]] = {}
        self._in_flight_lock = threading.Lock()
        self._redis_was_down = False

    def stop(self) -> None:
        self._stop.set()

    # -- lifecycle ---------------------------------------------------------------------------

    def run(self) -> None:
        """Start, poll until stopped, shut down within the grace period."""
        if not self._wait_for_redis():
            return
        self._log_startup()
        for job_id in self.reaper.recover_own():
            log.warning("recovered a job of a previous process with this worker id", extra=fields(jobId=job_id))
        self.heartbeat.beat()
        for name, target in (("heartbeat", self.heartbeat.run), ("reaper", self.reaper.run)):
            threading.Thread(target=target, args=(self._halt,), name=name, daemon=True).start()
        try:
            while not self._stop.is_set():
                self._iterate()
        finally:
            self._shutdown()

    def _wait_for_redis(self) -> bool:
        """True once Redis answers; False when stopped while waiting; RedisUnreachable past the deadline."""
        try:
            for attempt in Retrying(
                retry=retry_if_exception(_transient),
                stop=stop_after_delay(STARTUP_REDIS_DEADLINE_S) | stop_when_event_set(self._stop),
                wait=wait_exponential(multiplier=0.2, max=5),
                before_sleep=lambda state: log.warning(
                    "waiting for Redis",
                    extra=fields(redis=self.settings.redis_url_redacted, error=str(state.outcome.exception())),
                ),
            ):
                with attempt:
                    self._redis.ping()
        except RetryError as error:
            if self._stop.is_set():
                return False
            last = error.last_attempt.exception()
            raise RedisUnreachable(
                f"Redis at {self.settings.redis_url_redacted} did not answer within {STARTUP_REDIS_DEADLINE_S:.0f} s: {last}"
            ) from last
        except redis.AuthenticationError as error:
            raise RedisUnreachable(f"Redis at {self.settings.redis_url_redacted} refused the credentials: {error}") from error
        return True

    def _log_startup(self) -> None:
        settings = self.settings
        log.info(
            "ocr worker started",
            extra=fields(
                workerId=settings.worker_id,
                engine=self.state.engine,
                device=self.state.device,
                queue=settings.queue_key,
                processing=settings.processing_key,
                channel=settings.publish_channel,
                concurrency=settings.concurrency,
                maxRetries=settings.max_retries,
                pollIntervalMs=settings.poll_interval_ms,
                visibilityTimeoutS=settings.visibility_timeout_s,
                redis=settings.redis_url_redacted,
                taskDefinitionArn=settings.task_definition_arn,
                image=settings.image,
            ),
        )

    def _shutdown(self) -> None:
        with self._in_flight_lock:
            running = list(self._in_flight.values())
        log.info("shutting down", extra=fields(inFlight=len(running), graceS=SHUTDOWN_GRACE_S))
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        for _, thread in running:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._in_flight_lock:
            unfinished = [claim for claim, _ in self._in_flight.values()]
        self._halt.set()
        try:
            for claim in unfinished:
                returned = self.queue.requeue(claim.raw, claim.job_id, claim.record, to_head=True)
                log.warning("job unfinished at shutdown", extra=fields(jobId=claim.job_id, returnedToQueue=returned))
            self.heartbeat.clear()
        except redis.RedisError as error:
            log.error(
                "Redis failed at shutdown: unfinished jobs wait for the reaper",
                extra=fields(jobs=[c.job_id for c in unfinished], error=str(error)),
            )
        log.info("ocr worker stopped", extra=fields(workerId=self.settings.worker_id, jobsDone=self.state.jobs_done))

    # -- poll / claim --------------------------------------------------------------------------

    def _iterate(self) -> None:
        """One round of the loop: wait for a free slot, poll for a job, start it."""
        self.state.tick()
        poll_s = self.settings.poll_interval_s
        if not self._slots.acquire(timeout=poll_s):
            return
        try:
            claim = self._poll(poll_s)
        except redis.RedisError as error:  # unreachable, or refusing for now (OOM, READONLY, NOAUTH)
            self._slots.release()
            self._redis_down(error)
            return
        if claim is None:
            self._slots.release()
            return
        self._start(claim)

    def _poll(self, timeout_s: float) -> Claim | None:
        self.state.polled()
        self.heartbeat.beat()
        claim = self.queue.claim_next(self.settings.worker_id, timeout_s)
        if self._redis_was_down:
            self._redis_was_down = False
            self.state.redis_ok = True
            log.info("Redis reachable again", extra=fields(redis=self.settings.redis_url_redacted))
        return claim

    def _redis_down(self, error: Exception) -> None:
        if not self._redis_was_down:
            log.error("Redis unreachable or refusing commands; polling paused", extra=fields(redis=self.settings.redis_url_redacted, error=str(error)))
        self._redis_was_down = True
        self.state.redis_ok = False
        self._stop.wait(self.settings.poll_interval_s)  # pace reconnect attempts; wakes on shutdown

    def _start(self, claim: Claim) -> None:
        thread = threading.Thread(target=self._process, args=(claim,), name=f"job-{claim.job_id}", daemon=True)
        with self._in_flight_lock:
            self._in_flight[claim.job_id] = (claim, thread)
        self.state.job_started()
        thread.start()

    # -- run / publish / ack -------------------------------------------------------------------

    def _process(self, claim: Claim) -> None:
        finished = False
        try:
            finished = self._handle(claim)
        except redis.RedisError as error:
            # The claim stays in processing: the reaper hands the job on once this worker is gone.
            log.error("job left in processing: Redis unreachable or refusing commands", extra=fields(jobId=claim.job_id, error=str(error)))
        finally:
            with self._in_flight_lock:
                self._in_flight.pop(claim.job_id, None)
            self.state.job_ended(finished)
            self._slots.release()

    def _handle(self, claim: Claim) -> bool:
        """Run one claimed job to its end; True when it was finished (not handed back)."""
        try:
            job = OcrJob.from_json(claim.raw)
        except ValidationError as error:
            return self._dead_letter(claim, f"malformed job message: {error.errors()[0]['msg']} at {error.errors()[0]['loc']}")
        if claim.attempts > self.settings.max_retries:
            return self._dead_letter(claim, f"gave up after {claim.attempts - 1} attempts: the worker running it stopped")
        try:
            result = self._run(job, claim)
        except Exception as error:  # noqa: BLE001 - job boundary: storage or engine failures of any kind are retried
            return self._retry_or_dead_letter(claim, error)
        done = self._finish(claim, result)
        self._log_job(job, result, claim)
        return done

    def _run(self, job: OcrJob, claim: Claim) -> OcrResult:
        started = time.monotonic()
        image = self._storage.get_object(Bucket=job.bucket or self.settings.s3_bucket, Key=job.objectKey)["Body"].read()
        recognition = self._recognizer.recognize(job.documentType, image)
        return OcrResult(
            jobId=job.jobId,
            documentId=job.documentId,
            status="failed" if recognition.error else "succeeded",
            engine=self._recognizer.engine,
            device=self._recognizer.device,
            fields=recognition.fields,
            fieldConfidence=recognition.field_confidence,
            confidence=recognition.confidence,
            durationMs=round((time.monotonic() - started) * 1000),
            workerId=self.settings.worker_id,
            error=recognition.error,
            traceId=job.traceId,
            attempts=claim.attempts,
            notes=recognition.notes,
        )

    def _finish(self, claim: Claim, result: OcrResult | None, dead_letter: dict[str, Any] | None = None) -> bool:
        """Publish + ack in one script; a Redis blip is retried for as long as the claim is safe."""
        for attempt in Retrying(
            retry=retry_if_exception_type(REDIS_UNREACHABLE),
            stop=stop_after_delay(self.settings.visibility_timeout_s),
            wait=wait_exponential(multiplier=0.2, max=5),
            reraise=True,
        ):
            with attempt:
                done = self.queue.finish(claim, result, dead_letter)
        if not done:
            log.warning("result discarded: the job was handed to another worker meanwhile", extra=fields(jobId=claim.job_id))
        return done

    def _retry_or_dead_letter(self, claim: Claim, error: Exception) -> bool:
        reason = f"{type(error).__name__}: {error}"
        if claim.attempts >= self.settings.max_retries:
            return self._dead_letter(claim, f"failed {claim.attempts} times; last error: {reason}")
        delay = min(RETRY_BACKOFF_S * 2 ** (claim.attempts - 1), RETRY_BACKOFF_MAX_S)
        log.warning(
            "job failed; retrying", extra=fields(jobId=claim.job_id, attempt=claim.attempts, retryInS=delay, error=reason)
        )
        self._stop.wait(delay)  # back-off before the job is claimable again; a shutdown ends it early
        self.queue.requeue(claim.raw, claim.job_id, claim.record, to_head=False)
        return False

    def _dead_letter(self, claim: Claim, error: str) -> bool:
        """Give up on a job: dead-letter it with the error and publish a failed result."""
        message = _message_fields(claim.raw)
        entry = {
            **(message or {"raw": claim.raw.decode(errors="replace")}),
            "error": error,
            "attempts": claim.attempts,
            "workerId": self.settings.worker_id,
            "failedAt": utc_now_iso(),
        }
        result = None
        if isinstance(message.get("documentId"), str):
            trace_id = message.get("traceId")
            result = OcrResult(
                jobId=claim.job_id,
                documentId=message["documentId"],
                status="failed",
                engine=self._recognizer.engine,
                device=self._recognizer.device,
                workerId=self.settings.worker_id,
                error=error,
                traceId=trace_id if isinstance(trace_id, str) else None,
                attempts=claim.attempts,
            )
        log.error(
            "job dead-lettered",
            extra=fields(
                jobId=claim.job_id, documentId=message.get("documentId"), attempts=claim.attempts, status="failed", error=error
            ),
        )
        return self._finish(claim, result, dead_letter=entry)

    def _log_job(self, job: OcrJob, result: OcrResult, claim: Claim) -> None:
        log.log(
            self._job_line_level,
            JOB_FINISHED,
            extra=fields(
                jobId=job.jobId,
                documentId=job.documentId,
                documentType=job.documentType,
                status=result.status,
                durationMs=result.durationMs,
                attempt=claim.attempts,
                confidence=result.confidence,
                error=result.error,
                traceId=job.traceId,
            ),
        )

    # -- health --------------------------------------------------------------------------------

    def health(self) -> tuple[int, dict[str, object]]:
        """(status, body) for ``GET /health``: 503 names each problem."""
        problems = []
        try:
            redis_connected = bool(self._probe.ping())
        except REDIS_UNREACHABLE as error:
            redis_connected = False
            problems.append(f"Redis unreachable at {self.settings.redis_url_redacted}: {error}")
        stalled_s = self.state.last_tick_age_s()
        if stalled_s > max(STALL_AFTER_S, 5 * self.settings.poll_interval_s):
            problems.append(f"poll loop stalled: no iteration for {stalled_s:.0f} s")
        if self._stop.is_set():
            problems.append("shutting down")
        poll_age = self.state.last_poll_age_s()
        body: dict[str, object] = {
            "status": "unhealthy" if problems else "ok",
            "redisConnected": redis_connected,
            "device": self.state.device,
            "engine": self.state.engine,
            "workerId": self.settings.worker_id,
            "queue": self.settings.queue_key,
            "lastPollAgeS": None if poll_age is None else round(poll_age, 3),
            "inFlight": self.state.in_flight,
            "jobsDone": self.state.jobs_done,
        }
        if problems:
            body["problems"] = problems
        return (503 if problems else 200), body


def _transient(error: BaseException) -> bool:
    """Worth waiting for: Redis not up yet. Refused credentials are not."""
    return isinstance(error, REDIS_UNREACHABLE) and not isinstance(error, redis.AuthenticationError)


def _message_fields(raw: bytes) -> dict[str, Any]:
    """The JSON object of a job message, or {} when it is not one."""
    try:
        message = json.loads(raw)
    except ValueError:
        return {}
    return message if isinstance(message, dict) else {}
