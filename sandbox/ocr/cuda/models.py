"""The PP-OCR models and settings that the rapidocr wheel ships, found the way rapidocr finds them.

The CUDA engine must read exactly what the RapidOCR engine reads, so it takes the same ONNX files and
the same configuration (thresholds, input shapes, character list) from rapidocr's own default
configuration, and nothing else: no download, no second copy of a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import onnx
from omegaconf import DictConfig
from rapidocr.ch_ppocr_cls.main import CLS_SHAPE_BY_OCR_VERSION
from rapidocr.inference_engine.base import FileInfo, InferSession
from rapidocr.main import DEFAULT_CFG_PATH
from rapidocr.utils.parse_parameters import ParseParams
from rapidocr.utils.typings import EngineType

#: The metadata key of the recognition model that holds its character list (one per line).
CHARACTER_KEY = "character"


class ModelFileMissing(FileNotFoundError):
    """A model file that the rapidocr wheel should ship is not there."""


@dataclass(frozen=True)
class PpOcrModels:
    """Paths of the three ONNX models, the recogniser's characters, and rapidocr's settings."""

    det: Path
    cls: Path
    rec: Path
    characters: tuple[str, ...]
    config: DictConfig

    @property
    def cls_image_shape(self) -> list[int]:
        return list(CLS_SHAPE_BY_OCR_VERSION[self.config.Cls.ocr_version])

    def section(self, name: str) -> dict[str, Any]:
        """One section of rapidocr's configuration ("Global", "Det", "Cls", "Rec") as a plain dict."""
        return dict(self.config[name])


def _model_path(section: DictConfig, root: Path) -> Path:
    """Where rapidocr keeps the onnxruntime model of one task (``models/`` inside the wheel)."""
    info = InferSession.get_model_url(
        FileInfo(
            engine_type=EngineType.ONNXRUNTIME,
            ocr_version=section.ocr_version,
            task_type=section.task_type,
            lang_type=section.lang_type,
            model_type=section.model_type,
        )
    )
    path = root / Path(info["model_dir"]).name
    if not path.is_file():
        raise ModelFileMissing(
            f"expected the {section.task_type.value} model at {path} (shipped in the rapidocr wheel); "
            "it is missing: reinstall rapidocr"
        )
    return path


def _characters(rec_path: Path) -> tuple[str, ...]:
    model = onnx.load(str(rec_path), load_external_data=False)
    meta = {prop.key: prop.value for prop in model.metadata_props}
    if CHARACTER_KEY not in meta:
        raise ModelFileMissing(f"{rec_path} has no {CHARACTER_KEY!r} metadata: not a PP-OCR rec model")
    return tuple(meta[CHARACTER_KEY].splitlines())


@cache
def ppocr_models() -> PpOcrModels:
    """rapidocr's default models and configuration (read once per process)."""
    config = ParseParams.load(DEFAULT_CFG_PATH)
    root = Path(DEFAULT_CFG_PATH).parent / "models"
    rec = _model_path(config.Rec, root)
    return PpOcrModels(
        det=_model_path(config.Det, root),
        cls=_model_path(config.Cls, root),
        rec=rec,
        characters=_characters(rec),
        config=config,
    )
