"""Scoring a parsed card and deciding with the configured thresholds.

The score itself (0..100 from OCR confidence and field validity) is ``sandbox.ocr.score.score_document``;
the API only applies ``AI_SCORE_THRESHOLD_AUTO_APPROVE`` / ``..._REJECT`` through the contract's
``decide``. The scorer is injected so that tests can pass their own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from filot_contract.documents import VerificationStatus, decide

#: ``score_document(document_type, fields, field_confidence, confidence) -> (score, reasons)``
Scorer = Callable[[str, Mapping[str, str], Mapping[str, float], float], tuple[float, list[str]]]


class ScorerUnavailable(Exception):
    """The scoring module cannot be imported; the API cannot decide anything without it."""


def load_default_scorer() -> Scorer:
    try:
        from sandbox.ocr.score import score_document
    except ImportError as error:
        raise ScorerUnavailable(f"FiLot API cannot load its scorer sandbox.ocr.score.score_document: {error}") from None
    return score_document


@dataclass(frozen=True)
class Verdict:
    score: float
    reasons: list[str]
    decision: VerificationStatus


@dataclass(frozen=True)
class Judge:
    """A scorer plus the thresholds it is judged by."""

    scorer: Scorer
    approve_at: float
    reject_at: float

    def judge(
        self, document_type: str, fields: Mapping[str, str], field_confidence: Mapping[str, float], confidence: float
    ) -> Verdict:
        score, reasons = self.scorer(document_type, fields, field_confidence, confidence)
        if not math.isfinite(score):
            raise ValueError(f"scorer returned a non-finite score {score!r}")
        score = round(min(100.0, max(0.0, float(score))), 2)
        return Verdict(score, [str(r) for r in reasons], decide(score, self.approve_at, self.reject_at))
