"""The audit worker: a small loop that long-polls the audit queue, logs each audit event it consumed
(``filot_contract.epr.AUDIT_CONSUMED``) and deletes it.

A message that holds no audit event is left on the queue (after a few receives its redrive policy moves
it to the dead-letter queue), so nothing is lost. SIGTERM while waiting on the queue stops at once; while handling a batch, after it.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

from filot_contract.epr import AUDIT_CONSUMED, AUDIT_WORKER_STARTED, audit_event_of
from sandbox.epr.settings import AuditWorkerSettings
from sandbox.jsonlog import fields

log = logging.getLogger("epr.audit_consumer")
#: Seconds to wait after the queue could not be read, before asking again.
RETRY_S = 2.0


class AuditConsumer:
    def __init__(self, settings: AuditWorkerSettings) -> None:
        import boto3
        from botocore.config import Config

        self.settings = settings
        # endpoint_url None: the AWS_ENDPOINT_URL of the task's environment, else the region's SQS
        self.sqs: Any = boto3.client("sqs", endpoint_url=settings.aws_endpoint_url, config=Config(connect_timeout=5, read_timeout=settings.wait_time_s + 10,
                                                          retries={"mode": "standard", "max_attempts": 3}))
        self.busy = False
        self.stopping = False

    def receive(self) -> list[dict[str, Any]]:
        answer = self.sqs.receive_message(QueueUrl=self.settings.queue_url, MaxNumberOfMessages=self.settings.max_messages,
                                          WaitTimeSeconds=self.settings.wait_time_s,
                                          VisibilityTimeout=self.settings.visibility_timeout_s)
        return answer.get("Messages", [])

    def handle(self, message: dict[str, Any]) -> None:
        try:
            event = audit_event_of(message["Body"])
        except ValueError as error:
            log.warning("audit_consumer left a message that is not an audit event on the queue",
                        extra=fields(messageId=message["MessageId"], problem=str(error)))
            return
        self.sqs.delete_message(QueueUrl=self.settings.queue_url, ReceiptHandle=message["ReceiptHandle"])
        # logged once the message is off the queue: the line the gate looks for means "consumed"
        log.info(AUDIT_CONSUMED, extra=fields(eventId=event["eventId"], eventType=event.get("type"),
                                              messageId=message["MessageId"]))

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_sigterm)
        log.info(AUDIT_WORKER_STARTED, extra=fields(queueUrl=self.settings.queue_url, waitTimeS=self.settings.wait_time_s))
        while not self.stopping:
            try:
                messages = self.receive()
            except Exception as error:  # the queue unreachable or refusing: say so, and ask again
                log.error("audit_consumer could not read the queue", extra=fields(problem=f"{type(error).__name__}: {error}"))
                time.sleep(RETRY_S)  # sleep-ok: a pause before asking a queue that just failed again
                continue
            self.busy = True
            for message in messages:
                try:
                    self.handle(message)
                except Exception as error:  # one message's failure (a delete refused): it comes back after its timeout
                    log.error("audit_consumer could not handle a message; it returns after its visibility timeout",
                              extra=fields(messageId=message.get("MessageId"), problem=f"{type(error).__name__}: {error}"))
            self.busy = False
        log.info("audit_consumer stopped")
        return 0

    def _on_sigterm(self, *_: Any) -> None:
        self.stopping = True
        if not self.busy:
            raise SystemExit(0)  # blocked in a long poll: nothing in hand, stop now
