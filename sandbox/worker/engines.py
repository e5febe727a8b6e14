"""The worker's view of OCR: a recognizer turns (document type, image bytes) into a Recognition.

``OCR_ENGINE`` names an engine of ``sandbox.ocr`` (tesseract, rapidocr, cuda), or ``module:factory``
for a recognizer of one's own (the selftests use a tiny stand-in): ``factory(device) -> Recognizer``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from sandbox.worker.device import CPU

if TYPE_CHECKING:
    from sandbox.ocr.base import OcrEngine, Recognition

#: The engine that runs when the configured one needs a GPU and the worker fell back to the CPU:
#: the same PP-OCR models, through onnxruntime.
CPU_FALLBACK = {"cuda": "rapidocr"}


class EngineUnavailable(Exception):
    """The configured engine cannot be loaded (module missing, binary or language data absent)."""


class Recognizer(Protocol):
    """What a job needs from OCR; ``recognize`` returns a Recognition with ``error`` for a bad image."""

    engine: str
    device: str

    def recognize(self, document_type: str, image_bytes: bytes) -> Recognition: ...


class EngineRecognizer:
    """An ``sandbox.ocr`` engine behind ``sandbox.ocr.recognize.recognize``."""

    def __init__(self, engine: OcrEngine, recognize: Callable[[str, bytes, OcrEngine], Recognition]) -> None:
        self._engine = engine
        self._recognize = recognize
        self.engine = engine.name
        self.device = engine.device

    def recognize(self, document_type: str, image_bytes: bytes) -> Recognition:
        return self._recognize(document_type, image_bytes, self._engine)


def _factory(spec: str) -> Callable[[str], Recognizer]:
    module_name, _, attr = spec.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as error:
        raise EngineUnavailable(f"OCR_ENGINE={spec}: cannot load the factory ({error})") from error


def load_recognizer(spec: str, device: str) -> Recognizer:
    """The recognizer for ``OCR_ENGINE`` on ``device`` ("cpu" or "cuda:N")."""
    if ":" in spec:
        return _factory(spec)(device)
    name = CPU_FALLBACK.get(spec, spec) if device == CPU else spec
    try:
        from sandbox.ocr.recognize import load_engine, recognize
    except ImportError as error:
        raise EngineUnavailable(f"OCR engine {name!r}: sandbox.ocr.recognize does not import ({error})") from error
    try:
        engine = load_engine(name)
    except (ValueError, LookupError, OSError, RuntimeError) as error:
        raise EngineUnavailable(f"OCR engine {name!r} cannot start: {error}") from error
    return EngineRecognizer(engine, recognize)
