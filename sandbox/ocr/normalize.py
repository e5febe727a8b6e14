"""Turning OCR text into values as the card prints them: digits, dates, vocabulary words, clean text."""

from __future__ import annotations

import re
from collections.abc import Iterable
from difflib import SequenceMatcher

#: Letters OCR engines read in place of digits, in fields that hold only digits.
_DIGIT_LOOKALIKES = str.maketrans({
    "O": "0", "o": "0", "D": "0", "Q": "0", "U": "0",
    "I": "1", "l": "1", "i": "1", "|": "1", "!": "1", "]": "1", "[": "1", "L": "1", "J": "1",
    "Z": "2", "z": "2",
    "E": "3",
    "A": "4", "h": "4",
    "S": "5", "s": "5", "$": "5",
    "G": "6", "b": "6",
    "T": "7", "?": "7",
    "B": "8",
    "g": "9", "q": "9",
})
_COLON_LEAD = re.compile(r"^\s*(?:[:;]+\s*|[1Il|!i]?\s*[:;]\s*|[1Il|!i](?=\s))\s*")
_FREE_TEXT = re.compile(r"[^A-Z0-9 .,'/-]")


def digits(text: str) -> str:
    """Only the digits of ``text``, after reading digit look-alike letters as digits."""
    return re.sub(r"\D", "", text.translate(_DIGIT_LOOKALIKES))


def strip_colon(text: str) -> str:
    """Drop the ``:`` (often read as ``1``, ``i`` or ``;``) that separates a label from its value."""
    return _COLON_LEAD.sub("", text, count=1).strip()


def clean(text: str, pattern: re.Pattern[str] = _FREE_TEXT) -> str:
    """Upper case, characters a card prints only, single spaces, no stray punctuation at the ends."""
    text = pattern.sub("", text.upper())
    text = re.sub(r"\s+", " ", text)
    return re.sub(r"^[^A-Z0-9]+|[^A-Z0-9.]+$", "", text)


def similarity(a: str, b: str) -> float:
    return SequenceMatcher(None, a, b, autojunk=False).ratio()


def snap(text: str, vocabulary: Iterable[str], cutoff: float) -> tuple[str | None, float]:
    """The vocabulary word closest to ``text`` and its similarity, or (None, best) below ``cutoff``."""
    text = clean(text)
    best, score = None, 0.0
    for word in vocabulary:
        ratio = 1.0 if text == word else similarity(text, word)
        if ratio > score:
            best, score = word, ratio
    return (best, score) if score >= cutoff else (None, score)


def date_ddmmyyyy(text: str) -> str | None:
    """"24-03-1993", "24.03.1993", "24031993", "2A-03-1993" -> "24-03-1993"; None when not a date."""
    found = digits(text)
    if len(found) != 8:
        return None
    day, month, year = int(found[:2]), int(found[2:4]), int(found[4:])
    if not (1 <= day <= 31 and 1 <= month <= 12 and 1900 <= year <= 2100):
        return None
    return f"{found[:2]}-{found[2:4]}-{found[4:]}"
