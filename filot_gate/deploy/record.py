"""The deploy record (DESIGN.md section 4): what a deploy run shipped, per service, and what was live before.

The gate's infra checks compare the live state with it, and the rollback hook undoes exactly it. A
record belongs to one run: deploying again with the same run id merges into it; another run id
replaces it, so that a rollback never goes back to a revision some older run replaced.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping


@dataclass(frozen=True)
class ServiceRecord:
    """One deployed service: where it runs, the revision and image shipped, and the revision live before."""

    cluster: str
    service: str
    family: str
    task_definition_arn: str
    image_digest: str
    previous_task_definition_arn: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "service": self.service,
            "family": self.family,
            "taskDefinitionArn": self.task_definition_arn,
            "imageDigest": self.image_digest,
            "previousTaskDefinitionArn": self.previous_task_definition_arn,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ServiceRecord":
        return cls(
            cluster=data["cluster"],
            service=data["service"],
            family=data["family"],
            task_definition_arn=data["taskDefinitionArn"],
            image_digest=data.get("imageDigest", ""),
            previous_task_definition_arn=data.get("previousTaskDefinitionArn"),
        )


@dataclass(frozen=True)
class DeployRecord:
    """A whole deploy run."""

    run_id: str
    created_at: str
    region: str
    services: Mapping[str, ServiceRecord] = field(default_factory=dict)
    #: The gate run that said go on every post-deploy gate for this deploy: from then on the deploy is
    #: the accepted state, which no later failure (a stale record, the next deploy's preflight) undoes.
    accepted_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = {
            "runId": self.run_id,
            "createdAt": self.created_at,
            "region": self.region,
            "services": {key: rec.to_json() for key, rec in self.services.items()},
        }
        return data | ({"acceptedBy": self.accepted_by} if self.accepted_by else {})

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "DeployRecord":
        return cls(
            run_id=data["runId"],
            created_at=data["createdAt"],
            region=data["region"],
            services={key: ServiceRecord.from_json(rec) for key, rec in data.get("services", {}).items()},
            accepted_by=data.get("acceptedBy"),
        )


def new_run_id() -> str:
    """A run id that sorts by time: ``deploy-20251130T101500Z-1a2b``."""
    return f"deploy-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def load_record(path: Path) -> DeployRecord:
    """Read a deploy record, with a message naming the file when it is missing or malformed."""
    try:
        return DeployRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise ValueError(f"deploy record {path}: cannot read ({exc.strerror})") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"deploy record {path}: not a deploy record ({exc})") from None


def record_service(path: Path, run_id: str, region: str, key: str, service: ServiceRecord) -> tuple[DeployRecord, str | None]:
    """Add ``service`` under ``key`` to the record at ``path`` (merged if it is this run's) and write it.

    Returns the record written and, when an older run's record was replaced, that run's id.
    """
    replaced = None
    existing = load_record(path) if path.exists() else None
    if existing and existing.run_id == run_id:
        services = dict(existing.services)
        created_at = existing.created_at
    else:
        replaced = existing.run_id if existing else None
        services = {}
        created_at = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    services[key] = service
    record = DeployRecord(run_id, created_at, region, services)
    write_record(path, record)
    return record, replaced


def mark_accepted(path: Path, gate_run_id: str) -> DeployRecord:
    """Record that gate run ``gate_run_id`` accepted the deploy at ``path`` (go on every post-deploy gate)."""
    record = replace(load_record(path), accepted_by=gate_run_id)
    write_record(path, record)
    return record


def write_record(path: Path, record: DeployRecord) -> None:
    """Write atomically: a reader (the gate) sees the old record or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(record.to_json(), handle, indent=2)
        handle.write("\n")
    os.replace(tmp, path)
