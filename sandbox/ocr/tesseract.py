"""Tesseract (Debian ``tesseract-ocr`` + ``tesseract-ocr-ind``) through its command line, TSV output.

One process per image, single-threaded (``OMP_THREAD_LIMIT=1``): on a small machine Tesseract's
OpenMP threads cost more than they give, and the worker runs jobs side by side anyway.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from dataclasses import dataclass

from PIL import Image

from sandbox.ocr.base import TextLine
from sandbox.ocr.image import flatten

#: Words of one Tesseract line further apart than this many line heights become separate TextLines,
#: so that a label, its value and the photo column's text are not glued together.
_SPLIT_GAP_HEIGHTS = 1.6
#: Height (px) a digit-line crop is scaled to: Tesseract misreads the NIK's large bold digits more
#: often than the same digits at about 60 % of the size.
_DIGIT_LINE_HEIGHT = 30


@dataclass(frozen=True)
class _Word:
    line: tuple[int, int, int]
    text: str
    confidence: float
    box: tuple[int, int, int, int]


class TesseractEngine:
    """Reads text lines with Tesseract 5 (LSTM, Indonesian model), page segmentation as one block."""

    name = "tesseract"

    def __init__(self, language: str = "ind", psm: int = 6, timeout_s: float = 30.0) -> None:
        binary = shutil.which("tesseract")
        if binary is None:
            raise RuntimeError("tesseract is not on PATH; install Debian's tesseract-ocr and tesseract-ocr-ind")
        self._command = [binary, "stdin", "stdout", "-l", language, "--psm", str(psm), "tsv"]
        self._timeout_s = timeout_s
        self._env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
        installed = _installed_languages(binary, timeout_s)
        for part in language.split("+"):  # else every job would fail, one by one, after the worker said it started
            if part not in installed:
                raise RuntimeError(f"tesseract has no {part!r} language data (installed: {', '.join(installed) or 'none'});"
                                   f" install Debian's tesseract-ocr-{part}")

    @property
    def device(self) -> str:
        return "cpu"

    def read_lines(self, image: Image.Image) -> list[TextLine]:
        return _lines(_words(self._run(flatten(image), self._command)))

    def read_digits(self, image: Image.Image) -> TextLine | None:
        """One line of digits (a NIK crop), scaled to the text height Tesseract reads best, digits only."""
        scale = _DIGIT_LINE_HEIGHT / max(image.height, 1)
        line = flatten(image).resize((max(1, round(image.width * scale)), _DIGIT_LINE_HEIGHT), Image.Resampling.LANCZOS)
        command = [*self._command[:-1], "--psm", "7", "-c", "tessedit_char_whitelist=0123456789", "tsv"]
        words = _words(self._run(line, command))
        return _join(words) if words else None

    def _run(self, image: Image.Image, command: list[str]) -> str:
        png = io.BytesIO()
        image.save(png, "PNG")
        done = subprocess.run(command, input=png.getvalue(), capture_output=True, timeout=self._timeout_s,
                              env=self._env, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"tesseract exited {done.returncode}: {done.stderr.decode(errors='replace')[-300:]}")
        return done.stdout.decode("utf-8", errors="replace")


def _installed_languages(binary: str, timeout_s: float) -> list[str]:
    """``tesseract --list-langs``: a heading line, then one language per line."""
    try:
        done = subprocess.run([binary, "--list-langs"], capture_output=True, timeout=timeout_s, check=False)
    except subprocess.SubprocessError as exc:
        raise RuntimeError(f"tesseract --list-langs did not answer: {exc}") from None
    return sorted(line.strip() for line in done.stdout.decode(errors="replace").splitlines()[1:] if line.strip())


def _words(tsv: str) -> list[_Word]:
    words = []
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        text = (row.get("text") or "").strip()
        if row["level"] != "5" or not text:
            continue
        left, top, width, height = (int(row[k]) for k in ("left", "top", "width", "height"))
        words.append(_Word((int(row["block_num"]), int(row["par_num"]), int(row["line_num"])), text,
                           max(float(row["conf"]), 0.0) / 100, (left, top, left + width, top + height)))
    return words


def _lines(words: list[_Word]) -> list[TextLine]:
    """Group words by Tesseract line, splitting a line where the gap between two words is wide."""
    lines: list[TextLine] = []
    run: list[_Word] = []
    for word in words:
        if run and (word.line != run[-1].line or _gap(run[-1], word) > _SPLIT_GAP_HEIGHTS * _height(run)):
            lines.append(_join(run))
            run = []
        run.append(word)
    if run:
        lines.append(_join(run))
    return lines


def _height(run: list[_Word]) -> float:
    return max(w.box[3] - w.box[1] for w in run)


def _gap(left: _Word, right: _Word) -> int:
    return right.box[0] - left.box[2]


def _join(run: list[_Word]) -> TextLine:
    box = (min(w.box[0] for w in run), min(w.box[1] for w in run),
           max(w.box[2] for w in run), max(w.box[3] for w in run))
    confidence = sum(w.confidence * len(w.text) for w in run) / sum(len(w.text) for w in run)
    return TextLine(" ".join(w.text for w in run), confidence, box)
