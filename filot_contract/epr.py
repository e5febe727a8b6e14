"""What the Entity & Permissions Core (seed 004) and the gate agree on: the audit events that reach the
audit worker through SNS and SQS, and the log lines that show it consumed one.

The worker logs one JSON line per consumed event, ``{"msg": AUDIT_CONSUMED, "eventId": ...}``, into the
task's awslogs stream; the gate publishes a synthetic event and looks for that line (seed 004 "Worker
Logs": ``aws logs tail /ecs/omen-epr --filter-pattern "audit_consumer"``).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from filot_contract.messages import utc_now_iso

#: The ``msg`` of the worker's line for each consumed event; its ``eventId`` field names the event.
AUDIT_CONSUMED = "audit_consumer processed event"
#: The ``msg`` of the worker's start-up line (it is polling its queue from then on).
AUDIT_WORKER_STARTED = "audit_consumer started"
#: The ``type`` of the gate's own events: the worker logs them and keeps nothing.
SYNTHETIC_EVENT_TYPE = "deployment-gate.synthetic"


def synthetic_audit_event(run_id: str) -> dict[str, Any]:
    """An audit event the gate publishes to prove the topic -> queue -> worker path of one deployment."""
    return {"eventId": f"gate-{run_id}-{uuid.uuid4().hex[:12]}", "type": SYNTHETIC_EVENT_TYPE,
            "source": "filot-deployment-gate", "occurredAt": utc_now_iso()}


def audit_event_of(body: str) -> dict[str, Any]:
    """The audit event in an SQS message body: raw, or inside the SNS envelope (``Message``) when the
    subscription does not set RawMessageDelivery. ``ValueError`` when it holds no event with an id."""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and data.get("Type") == "Notification" and isinstance(data.get("Message"), str):
            data = json.loads(data["Message"])
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("eventId"), str) or not data["eventId"]:
        raise ValueError(f"expected a JSON object with an eventId, got {body[:120]!r}")
    return data
