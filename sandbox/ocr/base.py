"""The engine interface and the values that cross it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from PIL import Image


@dataclass(frozen=True)
class TextLine:
    """One line of text an engine read, with its box in image pixels (x0, y0, x1, y1)."""

    text: str
    confidence: float  # 0..1
    box: tuple[int, int, int, int]


@dataclass
class Recognition:
    """What the worker publishes for one document: parsed fields, or an error saying why not."""

    fields: dict[str, str] = field(default_factory=dict)
    field_confidence: dict[str, float] = field(default_factory=dict)
    confidence: float = 0.0  # overall, 0..1: OCR confidence times image quality
    error: str | None = None
    #: Image-quality issues that lowered ``confidence`` ("image out of focus ..."), for the reviewer.
    notes: list[str] = field(default_factory=list)


class OcrEngine(Protocol):
    """An OCR engine: reads the text lines of one image (or a batch, for engines that batch)."""

    name: str  # "tesseract", "rapidocr", "cuda"

    @property
    def device(self) -> str:
        """"cpu" or "cuda:N": where this engine really runs."""

    def read_lines(self, image: Image.Image) -> list[TextLine]: ...


class DigitReader(Protocol):
    """Optional engine capability: read one line that holds only digits (a NIK crop) more reliably.

    Engines that read digits as well as anything else (RapidOCR) do not need it; ``recognize`` uses
    it when the engine has it and the NIK was read with doubt.
    """

    def read_digits(self, image: Image.Image) -> TextLine | None: ...
