"""The fixture corpus (fixtures/ktp/manifest.json): cards with ground truth and expected path."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "ktp"


@dataclass(frozen=True)
class Card:
    file: str
    document_type: str
    variant: str
    expected_path: str
    expected_http_status: int
    fields: dict

    @property
    def path(self) -> Path:
        return CORPUS_DIR / self.file


@lru_cache(maxsize=1)
def cards() -> tuple[Card, ...]:
    manifest = json.loads((CORPUS_DIR / "manifest.json").read_text())
    return tuple(
        Card(c["file"], c["documentType"], c["variant"], c["expectedPath"], c.get("expectedHttpStatus", 202), c["fields"])
        for c in manifest["cards"]
    )


def first(document_type: str, expected_path: str) -> Card:
    """The first card of a type whose expected path is ``expected_path`` (e.g. KTP, auto_approve)."""
    for card in cards():
        if card.document_type == document_type and card.expected_path == expected_path:
            return card
    raise LookupError(f"fixture corpus has no {document_type} card with expected path {expected_path}")
