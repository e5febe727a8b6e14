"""From uploaded bytes to a card image in the canonical frame (1011 x 638 px, 85.60 x 53.98 mm at 300 dpi).

A scan that is the card is only resized. A photo of a card lying on something is found by colour (the
card differs from the surface around it in chroma, which survives uneven light) and warped flat, so
the parsers can rely on where things are on the card.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

CARD_SIZE = (1011, 638)
_CARD_RATIO = CARD_SIZE[0] / CARD_SIZE[1]
#: Largest image accepted for decoding (pixels); bigger ones are refused rather than decompressed.
MAX_PIXELS = 40_000_000


class ImageRejected(ValueError):
    """The bytes are not a usable image; the message says why."""


@dataclass(frozen=True)
class CardImage:
    """The card in the canonical frame and how it lay in the upload."""

    image: Image.Image  # RGB, CARD_SIZE
    original: Image.Image  # RGB, as decoded
    found_on_background: bool  # a photo of a card on a surface (warped), not a tight scan
    skew_degrees: float  # rotation of the card's top edge in the upload
    keystone: float  # 0 for a rectangle; relative length difference of opposite edges otherwise


def decode(data: bytes) -> Image.Image:
    """The uploaded image as RGB, EXIF rotation applied; ImageRejected when it cannot be decoded."""
    if not data:
        raise ImageRejected("empty upload: no image bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise ImageRejected(f"image of {image.width}x{image.height} px is larger than {MAX_PIXELS} px")
            image.load()
    except UnidentifiedImageError as exc:  # its message is the repr of the BytesIO it read: say what came
        raise ImageRejected(f"not a decodable image: {len(data)} bytes starting {data[:8].hex(' ')},"
                            " expected a PNG, JPEG or WebP image") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"not a decodable image ({exc})") from exc
    except OSError as exc:  # PIL reports truncated and corrupt data as OSError
        raise ImageRejected(f"corrupt or truncated image data ({exc})") from exc
    return ImageOps.exif_transpose(image).convert("RGB")


def flatten(image: Image.Image) -> Image.Image:
    """Grey levels divided by the local background: dark text on an even white, whatever the light.

    Tesseract binarises with one global threshold, which loses text in shadows and keeps coloured
    backgrounds; the background is estimated by a max filter wider than a stroke, then a median.
    """
    gray = np.asarray(image.convert("L"))
    background = cv2.medianBlur(cv2.dilate(gray, np.ones((9, 9), np.uint8)), 31)
    flat = gray.astype(np.float32) / np.maximum(background.astype(np.float32), 1.0) * 255.0
    return Image.fromarray(np.clip(flat, 0, 255).astype(np.uint8))


def is_blank(image: Image.Image) -> bool:
    """True when the image has (almost) no structure: no card, no text, only a flat colour."""
    gray = np.asarray(image.convert("L").resize((256, 160)), dtype=np.float32)
    edges = np.abs(np.diff(gray, axis=1)).mean() + np.abs(np.diff(gray, axis=0)).mean()
    return float(gray.std()) < 6.0 and edges < 1.5


def locate_card(image: Image.Image) -> CardImage:
    """Find the card in ``image`` and bring it into the canonical frame."""
    rgb = np.asarray(image)
    quad = _card_quad(rgb)
    if quad is None:
        return CardImage(image.resize(CARD_SIZE, Image.Resampling.LANCZOS), image, False, 0.0, 0.0)
    tl, tr, br, bl = quad
    target = np.array([[0, 0], [CARD_SIZE[0], 0], [CARD_SIZE[0], CARD_SIZE[1]], [0, CARD_SIZE[1]]], np.float32)
    matrix = cv2.getPerspectiveTransform(quad, target)
    flat = cv2.warpPerspective(rgb, matrix, CARD_SIZE, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    skew = math.degrees(math.atan2(tr[1] - tl[1], tr[0] - tl[0]))
    keystone = max(_relative_difference(tr - tl, br - bl), _relative_difference(bl - tl, br - tr))
    return CardImage(Image.fromarray(flat), image, True, skew, keystone)


def _relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    la, lb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return abs(la - lb) / max(la, lb)


def _card_quad(rgb: np.ndarray) -> np.ndarray | None:
    """Corners (tl, tr, br, bl) of a card lying on a surface of another colour, or None for a tight scan."""
    lab = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32), (9, 9), 0)
    border = np.concatenate([lab[:8].reshape(-1, 3), lab[-8:].reshape(-1, 3),
                             lab[:, :8].reshape(-1, 3), lab[:, -8:].reshape(-1, 3)])
    surface = np.median(border, axis=0)
    distance = np.sqrt(((lab[..., 1:] - surface[1:]) ** 2).sum(-1) + (0.5 * (lab[..., 0] - surface[0])) ** 2)
    _, mask = cv2.threshold(np.clip(distance * 4, 0, 255).astype(np.uint8), 0, 255,
                            cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((25, 25), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    hull = cv2.convexHull(max(contours, key=cv2.contourArea))
    area = cv2.contourArea(hull) / (rgb.shape[0] * rgb.shape[1])
    corners = cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True).reshape(-1, 2).astype(np.float32)
    if len(corners) != 4 or not 0.25 < area < 0.97:
        return None
    ordered = _order_corners(corners)
    width = (np.linalg.norm(ordered[1] - ordered[0]) + np.linalg.norm(ordered[2] - ordered[3])) / 2
    height = (np.linalg.norm(ordered[3] - ordered[0]) + np.linalg.norm(ordered[2] - ordered[1])) / 2
    if not 0.75 < (width / height) / _CARD_RATIO < 1.33:
        return None
    return ordered


def _order_corners(corners: np.ndarray) -> np.ndarray:
    sums, diffs = corners.sum(axis=1), np.diff(corners, axis=1).ravel()
    return np.array([corners[np.argmin(sums)], corners[np.argmin(diffs)], corners[np.argmax(sums)],
                     corners[np.argmax(diffs)]], np.float32)
