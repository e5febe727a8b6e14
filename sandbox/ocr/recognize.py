"""One document image in, its parsed fields out: what the OCR worker calls for every job.

``recognize`` never raises for a bad image: undecodable, blank or not a card gives a ``Recognition``
whose ``error`` says why. It raises only when the engine itself fails (a crashed or timed-out OCR
process), which is the worker's to retry.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from filot_contract.documents import KTP_FIELDS, NPWP_FIELDS
from sandbox.ocr.base import OcrEngine, Recognition, TextLine
from sandbox.ocr.image import ImageRejected, decode, is_blank, locate_card
from sandbox.ocr.ktp import DigitRereader, NotAKtp, Parsed, erase_label_colons, parse_ktp
from sandbox.ocr.npwp import NotAnNpwp, parse_npwp
from sandbox.ocr.quality import assess

#: Engine name -> "module:class"; imported only when that engine is loaded (torch, onnxruntime are heavy).
ENGINES = {
    "tesseract": "sandbox.ocr.tesseract:TesseractEngine",
    "rapidocr": "sandbox.ocr.rapid:RapidOcrEngine",
    "cuda": "sandbox.ocr.cuda_engine:CudaEngine",
}



@dataclass(frozen=True)
class _Document:
    prepare: Callable[[Image.Image], Image.Image]  # before OCR, in the canonical frame
    parse: Callable[[list[TextLine], DigitRereader | None], Parsed]
    required: tuple[str, ...]


_DOCUMENTS = {
    "KTP": _Document(erase_label_colons, parse_ktp, KTP_FIELDS),
    "NPWP": _Document(lambda image: image, lambda lines, _reread: parse_npwp(lines), NPWP_FIELDS),
}


def load_engine(name: str) -> OcrEngine:
    """A ready engine by name; ValueError naming the valid names for an unknown one."""
    if name not in ENGINES:
        raise ValueError(f"unknown OCR engine {name!r}; valid engines: {', '.join(sorted(ENGINES))}")
    module, _, cls = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), cls)()


def _digit_rereader(engine: OcrEngine, card: Image.Image) -> DigitRereader | None:
    read_digits = getattr(engine, "read_digits", None)  # optional capability, see base.DigitReader
    if read_digits is None:
        return None
    return lambda box: read_digits(card.crop(box))


def recognize(document_type: str, image_bytes: bytes, engine: OcrEngine) -> Recognition:
    """Parse one KTP or NPWP image; ``Recognition.error`` set when there is no card to read."""
    document = _DOCUMENTS.get(document_type)
    if document is None:
        return Recognition(error=f"unknown document type {document_type!r}; expected one of {', '.join(_DOCUMENTS)}")
    try:
        image = decode(image_bytes)
    except ImageRejected as exc:
        return Recognition(error=str(exc))
    if is_blank(image):
        return Recognition(error="blank image: no card and no text in it")
    card = locate_card(image)
    quality = assess(card)
    prepared = document.prepare(card.image)
    lines = engine.read_lines(prepared)
    try:
        parsed = document.parse(lines, _digit_rereader(engine, prepared))
    except (NotAKtp, NotAnNpwp) as exc:
        return Recognition(error=f"not a {document_type} card: {exc}", notes=quality.issues)
    ocr_confidence = sum(parsed.field_confidence.get(name, 0.0) for name in document.required) / len(document.required)
    return Recognition(
        fields=parsed.fields,
        field_confidence=parsed.field_confidence,
        confidence=round(ocr_confidence * quality.factor, 4),
        notes=quality.issues,
    )
