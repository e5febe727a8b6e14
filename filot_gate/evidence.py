"""Evidence a test collects (responses, log excerpts, ECS events, stage timelines) for its report.

Each piece is masked when added, attached to Allure at once (when Allure is on), and turned into
pytest-html extras and a junit property when the test's report is made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from filot_gate.redact import Redactor

#: Longest excerpt kept per piece; reports stay readable and bounded.
MAX_CHARS = 20_000


@dataclass(frozen=True)
class Piece:
    name: str
    content: str
    kind: str  # "text" | "json"


@dataclass
class Evidence:
    """What one test saw, in the order it saw it."""

    redactor: Redactor
    pieces: list[Piece] = field(default_factory=list)

    def add(self, name: str, content: Any) -> None:
        """Keep ``content`` (text, or anything JSON can show) under ``name``, masked and bounded."""
        kind = "text" if isinstance(content, str) else "json"
        text = content if isinstance(content, str) else json.dumps(content, indent=2, default=str, sort_keys=True)
        text = self.redactor.text(text)
        if len(text) > MAX_CHARS:
            text = text[:MAX_CHARS] + f"\n... ({len(text) - MAX_CHARS} more characters cut)"
        self.pieces.append(Piece(name, text, kind))
        _attach_to_allure(name, text, kind)

    def as_html_extras(self) -> list[dict]:
        from pytest_html import extras

        out = []
        for piece in self.pieces:
            parsed = json.loads(piece.content) if piece.kind == "json" and _is_json(piece.content) else None
            if isinstance(parsed, (dict, list)):
                out.append(extras.json(parsed, name=piece.name))
            else:  # text, a number, or JSON the masking cut short: shown as the text it is
                out.append(extras.text(piece.content, name=piece.name))
        return out


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _attach_to_allure(name: str, text: str, kind: str) -> None:
    try:
        import allure
    except ImportError:
        return
    attachment_type = allure.attachment_type.JSON if kind == "json" else allure.attachment_type.TEXT
    allure.attach(text, name=name, attachment_type=attachment_type)
