"""How good the picture of a card is: geometry, focus, noise, lighting, compression.

A poor picture is readable often enough, but then nobody can tell a misread digit from an altered one,
so poor quality lowers the overall confidence (and the score sends the card to a person). Each check
that fails multiplies the quality factor by its weight and adds a human-readable issue.
Thresholds were set on the fixture corpus (``fixtures/ktp``) with margins on both sides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from sandbox.ocr.image import CardImage

_MAX_SKEW_DEGREES = 2.0
_MAX_KEYSTONE = 0.04
_MIN_SHARPNESS = 0.004  # Laplacian variance / contrast^2 of the text area; clean KTP ~0.014, NPWP ~0.008
_MAX_NOISE_SIGMA = 3.0  # grey levels; clean renders ~2
_MIN_LIGHT_EVENNESS = 0.75  # darkest / brightest background cell; clean ~0.9
_MAX_BLOCKINESS = 1.4  # 8x8 JPEG block-edge steps vs. steps elsewhere; clean ~1.0, quality 10 ~2.2
_WEIGHT = 0.6  # factor per failed check


@dataclass
class Quality:
    factor: float = 1.0  # 0..1, multiplies the OCR confidence
    issues: list[str] = field(default_factory=list)
    measures: dict[str, float] = field(default_factory=dict)

    def flag(self, issue: str) -> None:
        self.factor *= _WEIGHT
        self.issues.append(issue)


def assess(card: CardImage) -> Quality:
    gray = np.asarray(card.image.convert("L"), dtype=np.float32)
    text_area = gray[100:630, 20:740]  # the labelled fields; the photo is right of x=760
    contrast = float(np.percentile(text_area, 95) - np.percentile(text_area, 2))
    measures = {
        "skew_degrees": card.skew_degrees,
        "keystone": card.keystone,
        "sharpness": float(cv2.Laplacian(cv2.GaussianBlur(text_area, (3, 3), 0), cv2.CV_32F).var())
        / max(contrast, 1.0) ** 2,
        "noise_sigma": _noise_sigma(gray),
        "light_evenness": _light_evenness(gray[140:630, 0:740]),
        "blockiness": _blockiness(np.asarray(card.original.convert("L"), dtype=np.float32)),
    }
    quality = Quality(measures={k: round(v, 4) for k, v in measures.items()})
    if abs(card.skew_degrees) > _MAX_SKEW_DEGREES or card.keystone > _MAX_KEYSTONE:
        quality.flag(f"card photographed at an angle (skew {card.skew_degrees:.1f} deg, "
                     f"keystone {card.keystone:.2f})")
    if measures["sharpness"] < _MIN_SHARPNESS:
        quality.flag(f"image out of focus (sharpness {measures['sharpness']:.4f} < {_MIN_SHARPNESS})")
    if measures["noise_sigma"] > _MAX_NOISE_SIGMA:
        quality.flag(f"noisy image (noise {measures['noise_sigma']:.1f} > {_MAX_NOISE_SIGMA})")
    if measures["light_evenness"] < _MIN_LIGHT_EVENNESS:
        quality.flag(f"uneven lighting (evenness {measures['light_evenness']:.2f} < {_MIN_LIGHT_EVENNESS})")
    if measures["blockiness"] > _MAX_BLOCKINESS:
        quality.flag(f"strong JPEG compression artefacts (blockiness {measures['blockiness']:.2f})")
    return quality


def _noise_sigma(gray: np.ndarray) -> float:
    """Immerkaer's fast noise estimate (1996): a Laplacian-difference kernel blind to edges and ramps."""
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = np.abs(cv2.filter2D(gray, -1, kernel)[1:-1, 1:-1])
    return float(math.sqrt(math.pi / 2) * response.mean() / 6)


def _light_evenness(gray: np.ndarray) -> float:
    """Darkest over brightest background level (90th percentile) of a grid of cells."""
    h, w = gray.shape
    levels = [np.percentile(gray[y:y + h // 5, x:x + w // 8], 90)
              for y in range(0, h - h // 5 + 1, h // 5) for x in range(0, w - w // 8 + 1, w // 8)]
    return float(min(levels) / max(max(levels), 1.0))


def _blockiness(gray: np.ndarray) -> float:
    """Mean small step across 8x8 block borders over the mean small step elsewhere (1.0 = no blocks)."""
    ratios = []
    for steps in (np.abs(np.diff(gray, axis=1)), np.abs(np.diff(gray, axis=0)).T):
        at_border = (np.arange(steps.shape[1]) % 8) == 7
        smooth = steps < 20  # ignore real edges (text)
        border = steps[:, at_border][smooth[:, at_border]]
        inner = steps[:, ~at_border][smooth[:, ~at_border]]
        if border.size and inner.size and inner.mean() > 0:
            ratios.append(float(border.mean() / inner.mean()))
    return sum(ratios) / len(ratios) if ratios else 1.0
