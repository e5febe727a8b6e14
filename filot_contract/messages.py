"""The job and result messages on the OCR queue and results channel (DESIGN.md section 3)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DocumentType = Literal["KTP", "NPWP"]
ResultStatus = Literal["succeeded", "failed"]


def utc_now_iso() -> str:
    """An ISO-8601 UTC timestamp with milliseconds, the format of every message timestamp."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def job_id_of(raw: str | bytes) -> str | None:
    """The ``jobId`` of a job or result JSON, even one that does not validate; None when it has none."""
    try:
        value = json.loads(raw).get("jobId")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


class OcrJob(BaseModel):
    """One OCR job, as the API enqueues it on ``filot:ocr:gpu:queue``."""

    model_config = ConfigDict(extra="allow")

    jobId: str
    documentId: str
    documentType: DocumentType
    bucket: str
    objectKey: str
    enqueuedAt: str = Field(default_factory=utc_now_iso)
    traceId: str

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, raw: str | bytes) -> "OcrJob":
        return cls.model_validate_json(raw)


class OcrResult(BaseModel):
    """One OCR result, as a worker publishes it on ``filot:ocr:gpu:results``."""

    model_config = ConfigDict(extra="allow")

    jobId: str
    documentId: str
    status: ResultStatus
    engine: str
    device: str  # "cuda:N" or "cpu"
    fields: dict[str, str] = Field(default_factory=dict)
    fieldConfidence: dict[str, float] = Field(default_factory=dict)
    confidence: float = 0.0
    durationMs: int = 0
    workerId: str
    finishedAt: str = Field(default_factory=utc_now_iso)
    error: str | None = None
    traceId: str | None = None

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, raw: str | bytes) -> "OcrResult":
        return cls.model_validate_json(raw)


def loads(raw: str | bytes) -> dict[str, Any]:
    """Decode a message without validating it (for evidence in reports)."""
    return json.loads(raw)
