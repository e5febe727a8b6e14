"""The NPWP card parser: text lines in the canonical frame -> ``NPWP_FIELDS``.

The card prints ``NPWP : 99.999.999.9-999.999`` (or 16 digits), then the holder's name and address
without labels; the name is the first row below the number, the address the next one.
"""

from __future__ import annotations

import re

from sandbox.ocr.base import TextLine
from sandbox.ocr.ktp import Parsed
from sandbox.ocr.layout import group_rows
from sandbox.ocr.normalize import clean, digits, similarity, strip_colon

_NAME = re.compile(r"[^A-Z .,'-]")


class NotAnNpwp(ValueError):
    """The image has no NPWP number row; the message says what was found instead."""


def _number_row(rows: list) -> int | None:
    for index, row in enumerate(rows):
        head, _, rest = row.text.replace(":", " : ").partition(" ")
        if similarity(re.sub(r"[^A-Z]", "", head.upper()), "NPWP") >= 0.75 and len(digits(rest)) >= 15:
            return index
    return None


def parse_npwp(lines: list[TextLine]) -> Parsed:
    rows = group_rows(lines)
    index = _number_row(rows)
    if index is None:
        raise NotAnNpwp(f"no NPWP number row (NPWP : 15 or 16 digits) among {len(rows)} text rows")
    parsed = Parsed()
    number_row = rows[index]
    number = digits(strip_colon(number_row.text.replace(":", " : ").split(" ", 1)[1]))
    parsed.put("npwp", number if len(number) in (15, 16) else None, number_row.confidence)
    below = [row for row in rows[index + 1:] if not clean(row.text).startswith("NIK")]
    if below:
        parsed.put("nama", clean(below[0].text, _NAME), below[0].confidence)
    if len(below) > 1:
        parsed.put("alamat", clean(below[1].text), below[1].confidence)
    return parsed
