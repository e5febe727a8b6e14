"""Rows of a card: the text lines an engine read, grouped by their vertical position.

Engines split a printed row differently (Tesseract by word gaps, RapidOCR by detection boxes); grouping
their lines by vertical centre gives the same rows either way, each read left to right.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from statistics import median

from sandbox.ocr.base import TextLine


@dataclass(frozen=True)
class Row:
    lines: tuple[TextLine, ...]  # left to right

    @property
    def text(self) -> str:
        return " ".join(line.text for line in self.lines)

    @property
    def top(self) -> int:
        return min(line.box[1] for line in self.lines)

    @property
    def confidence(self) -> float:
        return confidence_of(self.lines)


def confidence_of(lines: tuple[TextLine, ...] | list[TextLine]) -> float:
    """Character-weighted mean confidence of ``lines`` (0 when there are none)."""
    chars = sum(len(line.text) for line in lines)
    return sum(line.confidence * len(line.text) for line in lines) / chars if chars else 0.0


def _centre(line: TextLine) -> float:
    return (line.box[1] + line.box[3]) / 2


def group_rows(lines: list[TextLine]) -> list[Row]:
    """Lines whose vertical centres are within half a line height of a row's centre join that row.

    Text is NFKC-normalised: PP-OCR's models emit full-width punctuation ("NPWP：...").
    """
    lines = [replace(line, text=unicodedata.normalize("NFKC", line.text)) for line in lines if line.text.strip()]
    if not lines:
        return []
    tolerance = 0.5 * median(line.box[3] - line.box[1] for line in lines)
    rows: list[list[TextLine]] = []
    for line in sorted(lines, key=_centre):
        if rows and abs(_centre(line) - sum(map(_centre, rows[-1])) / len(rows[-1])) <= tolerance:
            rows[-1].append(line)
        else:
            rows.append([line])
    return [Row(tuple(sorted(row, key=lambda line: line.box[0]))) for row in rows]
