"""The fixture corpus (fixtures/ktp/manifest.json): cards with ground truth and expected path.

The gate picks the card that fits what a test proves (the first card of a type and path), uploads it
and compares what FiLot read with the card's ground truth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "ktp"
#: The expected path of a file the API must refuse at upload (its status is ``expectedHttpStatus``).
REFUSED_AT_UPLOAD = "reject_4xx"
_CONTENT_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


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

    @property
    def content_type(self) -> str:
        """What a browser would declare for the file (by its name; the API decides by its bytes)."""
        return _CONTENT_TYPES.get(self.path.suffix.lower(), "application/octet-stream")

    def mismatches(self, read: dict[str, str]) -> dict[str, dict[str, str | None]]:
        """Ground-truth fields that ``read`` got wrong or missed: name -> {"expected", "read"}."""
        return {
            name: {"expected": expected, "read": read.get(name)}
            for name, expected in self.fields.items()
            if read.get(name) != expected
        }


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


def refused(http_status: int, name: str) -> Card:
    """The first card named ``name``-* that the API must refuse at upload with ``http_status``
    (415 pdf-renamed, 422 truncated or blank)."""
    for card in cards():
        if (card.expected_path == REFUSED_AT_UPLOAD and card.expected_http_status == http_status
                and card.file.startswith(f"{name}-")):
            return card
    raise LookupError(f"fixture corpus has no {name}-* card refused at upload with HTTP {http_status}")
