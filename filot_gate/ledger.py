"""The record of each test's final outcome, shared by the processes of one run.

Without xdist it is an in-memory dict. With xdist each worker appends its outcomes to one JSON-lines
file in the run directory, so that a worker about to start a later gate's test can wait until every
earlier gate's test (wherever it ran) has an outcome, and see whether that gate failed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from filot_gate.polling import poll_until


@dataclass(frozen=True)
class Outcome:
    nodeid: str
    gate: str
    outcome: str  # passed | failed | error | skipped | blocked


class Ledger:
    """Outcomes by node id, mirrored to ``path`` when several processes share a run."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._outcomes: dict[str, Outcome] = {}

    def record(self, outcome: Outcome) -> None:
        self._outcomes[outcome.nodeid] = outcome
        if self.path is not None:
            line = json.dumps(outcome.__dict__) + "\n"
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)

    def record_collection(self, gate_of: dict[str, str]) -> None:
        """The selected tests and their gates, from a worker: an xdist controller collects none itself,
        and needs them to tell which tests never ran."""
        if self.path is None:
            return
        partial = self.path.with_name(f"collection.{os.getpid()}.tmp")
        partial.write_text(json.dumps(gate_of))
        partial.replace(self._collection_path)

    def collection(self) -> dict[str, str]:
        """Node id -> gate of the selected tests, as a worker recorded them (empty without xdist)."""
        if self.path is None or not self._collection_path.exists():
            return {}
        return json.loads(self._collection_path.read_text())

    @property
    def _collection_path(self) -> Path:
        assert self.path is not None
        return self.path.with_name("collection.json")

    def outcomes(self) -> dict[str, Outcome]:
        if self.path is not None and self.path.exists():
            for line in self.path.read_text().splitlines():
                if line.strip():
                    data = json.loads(line)
                    self._outcomes.setdefault(data["nodeid"], Outcome(**data))
        return dict(self._outcomes)

    def wait_for(
        self,
        nodeids: Iterable[str],
        deadline_s: float,
        progress: Callable[[str], None],
    ) -> dict[str, Outcome]:
        """Wait until every node id has an outcome; on expiry raise ``TimeoutError`` naming the missing."""
        wanted = set(nodeids)
        left = poll_until(
            lambda: wanted - self.outcomes().keys(),
            lambda missing: not missing,
            deadline_s=deadline_s,
            awaited=f"{len(wanted)} earlier-gate test(s), some on other workers",
            describe=lambda missing: f"{len(missing)} without an outcome, e.g. {sorted(missing)[0]}",
            interval_s=0.2,
            progress=progress,
        )
        if left:
            raise TimeoutError(
                f"earlier gates did not finish within {deadline_s:.0f}s; no outcome yet for: {', '.join(sorted(left)[:5])}"
            )
        return self.outcomes()
