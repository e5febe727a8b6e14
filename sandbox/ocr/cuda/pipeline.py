"""PP-OCR on PyTorch, batched across cards: detect, classify orientation, recognise.

The steps, thresholds and pre/post-processing are rapidocr's own (``RapidOCR.__call__``): the same
resize bounds and vertical padding, DB post-processing, perspective crops, the 180-degree classifier,
CTC decoding with the model's character list, and the text-score filter, so that a line read here
reads as it does in the RapidOCR engine. What differs is the batching:

* detection runs many cards per forward pass; cards of one size (the usual case: one scanner, one
  camera) need no padding, others are padded at the bottom/right to the batch's size;
* orientation and recognition run the text lines of every card of the batch together, recognition
  in width buckets (lines sorted by aspect ratio, a bucket no wider than ``rec_width_growth`` times
  its narrowest line) so that padding stays as small as in rapidocr's own batches of six.

Images are normalised on the device: what crosses the bus is uint8 pixels, and what comes back is
the detection map and, for recognition, only the best character and its probability per step.
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from time import perf_counter
from typing import Literal

import cv2
import numpy as np
import onnx
import torch
from rapidocr.ch_ppocr_cls.utils import ClsPostProcess
from rapidocr.ch_ppocr_det.main import TextDetector
from rapidocr.ch_ppocr_det.utils import DBPostProcess, DetPreProcess
from rapidocr.ch_ppocr_rec.utils import CTCLabelDecode
from rapidocr.utils.process_img import (
    apply_vertical_padding,
    get_rotate_crop_image,
    map_boxes_to_original,
    resize_image_within_bounds,
)

from sandbox.ocr.base import TextLine
from sandbox.ocr.cuda.models import PpOcrModels
from sandbox.ocr.cuda.onnx_module import OnnxModule

Precision = Literal["fp32", "fp16", "bf16"]
_AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class BatchLimits:
    """How much work one forward pass may take."""

    #: Cards per detection pass.
    det_cards: int = 16
    #: Text lines per orientation or recognition pass.
    rec_lines: int = 256
    #: A recognition bucket is at most this many times as wide as its narrowest line; None: plain
    #: runs of ``rec_lines`` lines in order of width, exactly rapidocr's own batches.
    rec_width_growth: float | None = 1.1


@dataclass
class _Card:
    """One card on its way through the pipeline."""

    original_shape: tuple[int, int]
    image: np.ndarray  # BGR, resized and padded as rapidocr does before detection
    op_record: dict
    det_input: np.ndarray | None  # the detection input (uint8, sides multiples of 32)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4, 2), np.float32))
    crops: list[np.ndarray] = field(default_factory=list)
    texts: list[tuple[str, float]] = field(default_factory=list)


class PpOcrPipeline:
    """Reads the text lines of many card images at once on one torch device."""

    def __init__(
        self,
        models: PpOcrModels,
        device: torch.device,
        precision: Precision = "fp32",
        limits: BatchLimits = BatchLimits(),
        cpu_workers: int = 4,
    ) -> None:
        self.device = device
        self.precision = precision
        self.limits = limits
        self.stage_seconds: Counter[str] = Counter()
        self.det_net = self._load(models.det)
        self.cls_net = self._load(models.cls)
        self.rec_net = self._load(models.rec)
        self._settings(models)
        self._pool = ThreadPoolExecutor(max_workers=cpu_workers, thread_name_prefix="ocr-cpu")

    def _load(self, path: object) -> OnnxModule:
        return OnnxModule(onnx.load(str(path))).eval().to(self.device)

    def _settings(self, models: PpOcrModels) -> None:
        glob, det, cls, rec = (models.section(name) for name in ("Global", "Det", "Cls", "Rec"))
        self.glob = glob
        self.det_resize = DetPreProcess(det["limit_side_len"], det["limit_type"])
        self.db = DBPostProcess(
            thresh=det["thresh"],
            box_thresh=det["box_thresh"],
            max_candidates=det["max_candidates"],
            unclip_ratio=det["unclip_ratio"],
            use_dilation=det["use_dilation"],
            score_mode=det["score_mode"],
        )
        self.det_mean = float(det["mean"][0]), float(det["std"][0])
        if len(set(det["mean"])) != 1 or len(set(det["std"])) != 1:
            raise ValueError(f"per-channel det mean/std {det['mean']}/{det['std']} are not supported")
        self.cls_shape = models.cls_image_shape
        self.cls_thresh = float(cls["cls_thresh"])
        self.cls_post = ClsPostProcess(list(cls["label_list"]))
        self.rec_shape = list(rec["rec_img_shape"])
        self.ctc = CTCLabelDecode(character=list(models.characters))

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    # -- the whole pipeline ---------------------------------------------------------------------

    def read(self, images: Sequence[np.ndarray]) -> list[list[TextLine]]:
        """The text lines of each BGR image (as rapidocr's LoadImage makes them), in reading order."""
        with self._stage("prepare"):
            cards = list(self._pool.map(self._prepare, images))
        for start in range(0, len(cards), self.limits.det_cards):
            self._detect(cards[start : start + self.limits.det_cards])
        crops = [crop for card in cards for crop in card.crops]
        if self.glob["use_cls"] and crops:
            crops = self._classify(crops)
        texts = self._recognise(crops) if crops else []
        offset = 0
        for card in cards:
            card.texts = texts[offset : offset + len(card.crops)]
            offset += len(card.crops)
        with self._stage("assemble"):
            return [self._lines(card) for card in cards]

    @contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        start = perf_counter()
        yield
        self.stage_seconds[name] += perf_counter() - start

    @contextmanager
    def _autocast(self) -> Iterator[None]:
        with torch.inference_mode():
            if self.precision == "fp32":
                yield
                return
            with torch.autocast(self.device.type, dtype=_AUTOCAST_DTYPES[self.precision]):
                yield

    # -- detection -----------------------------------------------------------------------------

    def _prepare(self, image: np.ndarray) -> _Card:
        original_shape = image.shape[0], image.shape[1]
        op_record: dict = {"preprocess": {"ratio_h": 1.0, "ratio_w": 1.0}}
        if self.glob["use_preprocess_img"]:
            image, ratio_h, ratio_w = resize_image_within_bounds(
                image, self.glob["min_side_len"], self.glob["max_side_len"]
            )
            op_record = {"preprocess": {"ratio_h": ratio_h, "ratio_w": ratio_w}}
        if self.glob["use_vertical_padding"]:
            image, op_record = apply_vertical_padding(
                image, op_record, self.glob["width_height_ratio"], self.glob["min_height"]
            )
        else:
            op_record["padding_1"] = {"top": 0, "left": 0}
        return _Card(original_shape, image, op_record, self.det_resize.resize(image))

    def _detect(self, cards: list[_Card]) -> None:
        ready = [card for card in cards if card.det_input is not None]
        if not ready:
            return
        inputs = [card.det_input for card in ready]
        with self._stage("det"), self._autocast():
            batch = self._normalised_batch(inputs, *self._max_size(inputs), self.det_mean)
            maps = self.det_net(batch)[:, 0].float()
            maps = [maps[i, : x.shape[0], : x.shape[1]].cpu().numpy() for i, x in enumerate(inputs)]
        with self._stage("det-post"):
            list(self._pool.map(self._boxes_and_crops, ready, maps))

    def _boxes_and_crops(self, card: _Card, pred: np.ndarray) -> None:
        """rapidocr's DB post-processing, box order and crops of one card."""
        boxes, _ = self.db(pred[np.newaxis, np.newaxis], card.image.shape[:2])
        if len(boxes) == 0:
            return
        card.boxes = TextDetector.sorted_boxes(boxes)
        card.crops = [get_rotate_crop_image(card.image, copy.deepcopy(box)) for box in card.boxes]

    # -- orientation and recognition -----------------------------------------------------------

    def _classify(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        """Turns the crops that the classifier finds upside down (rapidocr's TextClassifier)."""
        _, height, width = self.cls_shape
        with self._stage("cls-prep"):
            resized = list(self._pool.map(lambda crop: _resize_to_height(crop, height, width), crops))
        labels: list[tuple[str, float]] = []
        for start in range(0, len(resized), self.limits.rec_lines):
            part = resized[start : start + self.limits.rec_lines]
            with self._stage("cls"), self._autocast():
                probs = self.cls_net(self._normalised_batch(part, height, width, (0.5, 0.5)))
                labels.extend(self.cls_post(probs.float().cpu().numpy()))
        return [
            cv2.rotate(crop, cv2.ROTATE_180) if "180" in label and score > self.cls_thresh else crop
            for crop, (label, score) in zip(crops, labels)
        ]

    def _recognise(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """Text and confidence of each crop, by rapidocr's recogniser input and CTC decoding."""
        texts: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        for bucket in self._rec_buckets(crops):
            for index, text in zip(bucket, self._recognise_bucket([crops[i] for i in bucket])):
                texts[index] = text
        return texts

    def _rec_buckets(self, crops: list[np.ndarray]) -> list[list[int]]:
        """Line indices by width bucket: the lines no wider than the recogniser's minimum width go
        alone into buckets of exactly that width (as in rapidocr's batches of short lines)."""
        _, height, width = self.rec_shape
        min_ratio = width / height
        ratios = [crop.shape[1] / float(crop.shape[0]) for crop in crops]
        buckets: list[list[int]] = []
        limit = 0.0
        growth = self.limits.rec_width_growth
        for index in np.argsort(np.array(ratios)).tolist():  # rapidocr sorts the same way
            ratio = max(ratios[index], min_ratio)
            if not buckets or len(buckets[-1]) >= self.limits.rec_lines or (growth and ratio > limit):
                buckets.append([])
                limit = ratio * growth if growth and ratio > min_ratio else min_ratio
            buckets[-1].append(index)
        return buckets

    def _recognise_bucket(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        _, height, min_width = self.rec_shape
        ratios = [crop.shape[1] / float(crop.shape[0]) for crop in crops]
        max_ratio = max([min_width / height, *ratios])
        width = int(height * max_ratio)
        with self._stage("rec-prep"):
            resized = list(self._pool.map(lambda crop: _resize_to_height(crop, height, width), crops))
        with self._stage("rec"), self._autocast():
            probs = self.rec_net(self._normalised_batch(resized, height, width, (0.5, 0.5)))
            best, index = probs.float().max(dim=2)
            best, index = best.cpu().numpy(), index.cpu().numpy()
        with self._stage("rec-decode"):
            texts, _ = self.ctc.decode(index, best, False, ratios, max_ratio, remove_duplicate=True)
        return texts

    # -- shared helpers ------------------------------------------------------------------------

    @staticmethod
    def _max_size(images: Sequence[np.ndarray]) -> tuple[int, int]:
        return max(x.shape[0] for x in images), max(x.shape[1] for x in images)

    def _normalised_batch(
        self, images: Sequence[np.ndarray], height: int, width: int, mean_std: tuple[float, float]
    ) -> torch.Tensor:
        """NCHW float batch of uint8 HWC images, ``(x / 255 - mean) / std``, zero beyond each image.

        Zero padding is what rapidocr's own batches have (its recogniser pads normalised images with
        zeros), so a padded line reads as it does there.
        """
        pixels = np.zeros((len(images), height, width, 3), np.uint8)
        sizes = np.zeros((len(images), 2), np.int64)
        for i, image in enumerate(images):
            pixels[i, : image.shape[0], : image.shape[1]] = image
            sizes[i] = image.shape[:2]
        on_device = torch.from_numpy(pixels).to(self.device, non_blocking=True)
        size = torch.from_numpy(sizes).to(self.device, non_blocking=True)
        mean, std = mean_std
        batch = (on_device.permute(0, 3, 1, 2).float() / 255.0 - mean) / std
        rows = torch.arange(height, device=self.device)[None, :, None] < size[:, 0, None, None]
        cols = torch.arange(width, device=self.device)[None, None, :] < size[:, 1, None, None]
        return batch * (rows & cols)[:, None].to(batch.dtype)

    def _lines(self, card: _Card) -> list[TextLine]:
        """rapidocr's final output for one card: boxes in original pixels, empty and weak lines out."""
        if not card.texts:
            return []
        boxes = map_boxes_to_original(card.boxes.copy(), card.op_record, *card.original_shape)
        min_score = self.glob["text_score"]
        return [
            TextLine(text=text, confidence=float(score), box=_bounding_box(box))
            for box, (text, score) in zip(boxes, card.texts)
            if text.strip() and score >= min_score
        ]


def _resize_to_height(crop: np.ndarray, height: int, max_width: int) -> np.ndarray:
    """rapidocr's resize of a text line before classification/recognition (uint8, not padded)."""
    ratio = crop.shape[1] / float(crop.shape[0])
    width = min(max_width, int(math.ceil(height * ratio)))
    return cv2.resize(crop, (width, height))


def _bounding_box(points: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of a quadrilateral, truncated like the RapidOCR engine's boxes."""
    xs, ys = points[:, 0], points[:, 1]
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())
