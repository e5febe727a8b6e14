"""The BULI2 review callback the gate sends for its own synthetic document (DESIGN.md section 3).

BULI2's reviewers take hours in production, so the gate settles its synthetic manual review itself,
exactly as BULI2 would: a JSON decision POSTed to ``BULI2_CALLBACK_URL`` (FiLot's
``/internal/reviews``), signed with HMAC-SHA256 over ``timestamp + "." + raw body`` with
``BULI2_SIGNATURE_SECRET``, under a fresh callback id. The same request sent again is a replay;
signed with another secret it is a forgery; with an old timestamp it is stale.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

from filot_contract import buli2
from filot_contract.messages import utc_now_iso

#: Every callback id the gate makes starts with this (BULI2's own look like ``cb_<hex>``).
CALLBACK_ID_PREFIX = "filot-gate-"


@dataclass(frozen=True)
class SignedCallback:
    """One callback request, ready to send (and to send again)."""

    callback_id: str
    body: bytes
    headers: dict[str, str]


def decision_body(callback_id: str, review_id: str, document_id: str, decision: str, reviewer: str) -> bytes:
    """BULI2's decision JSON for one review."""
    return json.dumps({"callbackId": callback_id, "reviewId": review_id, "documentId": document_id,
                       "decision": decision, "reviewer": reviewer, "decidedAt": utc_now_iso()}).encode()


def sign(secret: str, callback_id: str, body: bytes, timestamp: float | None = None) -> SignedCallback:
    """The request BULI2 would send: body, signature, timestamp (default: now) and callback id headers."""
    stamp = str(int(time.time() if timestamp is None else timestamp))
    headers = {
        "Content-Type": "application/json",
        buli2.TIMESTAMP_HEADER: stamp,
        buli2.SIGNATURE_HEADER: buli2.sign(secret, stamp, body),
        buli2.CALLBACK_ID_HEADER: callback_id,
    }
    return SignedCallback(callback_id, body, headers)


def new_callback_id(run_id: str) -> str:
    """A callback id tagged with the gate run (BULI2's own ids look like ``cb_<hex>``)."""
    return f"{CALLBACK_ID_PREFIX}{run_id}-{uuid.uuid4().hex[:12]}"


def decision_on_no_document(run_id: str) -> tuple[str, bytes]:
    """A fresh callback id and an approval for a document id that does not exist: what the refusal
    checks send, so that a FiLot that wrongly accepted one would still change nothing."""
    callback_id = new_callback_id(run_id)
    body = decision_body(callback_id, f"{CALLBACK_ID_PREFIX}{run_id}", str(uuid.uuid4()), "approved", f"filot-gate {run_id}")
    return callback_id, body
