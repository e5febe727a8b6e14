"""RapidOCR 3.x (PP-OCR ONNX models) on onnxruntime's CPU provider, with the models the wheel ships.

Every model path is given explicitly: with a path set, RapidOCR never reaches its download code, so
the worker needs no network. ``rapidocr`` and ``onnxruntime`` are imported only when an engine is made.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sandbox.ocr.base import TextLine

_MODELS = {
    "Det.model_path": "PP-OCRv6_det_small.onnx",
    "Cls.model_path": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    "Rec.model_path": "PP-OCRv6_rec_small.onnx",
}


def bundled_model_params() -> dict[str, Any]:
    """RapidOCR parameters pointing at the models inside the installed wheel (error if one is missing)."""
    import rapidocr

    models = Path(rapidocr.__file__).parent / "models"
    params: dict[str, Any] = {"Global.log_level": "warning", "Global.model_root_dir": str(models)}
    for key, name in _MODELS.items():
        path = models / name
        if not path.is_file():
            raise RuntimeError(f"RapidOCR model {path} is missing: reinstall the rapidocr wheel (it ships them)")
        params[key] = str(path)
    return params


class RapidOcrEngine:
    """Reads text lines with RapidOCR: detection boxes, each recognised as one line."""

    name = "rapidocr"

    def __init__(self, threads: int | None = None) -> None:
        from rapidocr import RapidOCR

        params = bundled_model_params()
        if threads:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = threads
        self._ocr = RapidOCR(params=params)

    @property
    def device(self) -> str:
        return "cpu"

    def read_lines(self, image: Image.Image) -> list[TextLine]:
        result = self._ocr(np.asarray(image.convert("RGB"))[:, :, ::-1])  # RapidOCR wants BGR like OpenCV
        if result.boxes is None or result.txts is None:
            return []
        lines = []
        for quad, text, score in zip(result.boxes, result.txts, result.scores):
            xs, ys = [p[0] for p in quad], [p[1] for p in quad]
            lines.append(TextLine(text, float(score), (int(min(xs)), int(min(ys)), int(max(xs)), int(max(ys)))))
        return lines
