"""The CUDA OCR engine: PP-OCR (the rapidocr wheel's models) on PyTorch, batched on the GPU.

``CudaEngine`` is an ``OcrEngine``. Calls of ``read_lines`` from several threads (the worker runs
``OCR_GPU_CONCURRENCY`` jobs at once) are coalesced: one thread owns the GPU and takes every request
waiting when it becomes free into one batch, so that concurrent jobs share forward passes without any
added wait. ``read_lines_batch`` hands many cards over at once (the benchmark's path).

Start-up is where the known traps are dealt with:
* silent CPU fallback: the device is chosen explicitly (``cuda.device.choose_device``) and logged
  with the GPU's name, driver, CUDA version and memory (an ``nvidia-smi:`` line);
* first-job stalls: cuDNN autotuning is off (shapes vary per card and line) and a warm-up card runs
  through detection, orientation and recognition before the engine reports ready;
* memory growth: intermediate tensors are freed as soon as the graph is done with them, and the
  allocator's cache is emptied when it grows past ``memory_cap_fraction`` of the device.

Settings come from the environment (``EngineSettings``); the worker's own ``OCR_GPU_AUTOFALLBACK`` is
honoured here too.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from time import perf_counter
from typing import Literal

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from sandbox.ocr.base import TextLine
from sandbox.ocr.cuda.device import choose_device, describe
from sandbox.ocr.cuda.models import ppocr_models
from sandbox.ocr.cuda.pipeline import BatchLimits, PpOcrPipeline, Precision

log = logging.getLogger(__name__)


class EngineConfigError(ValueError):
    """A CUDA engine setting in the environment has a value it cannot use."""


class EngineSettings(BaseSettings):
    """The CUDA engine's settings; each field is read from the environment variable in its alias."""

    model_config = SettingsConfigDict(frozen=True, populate_by_name=True)

    autofallback: bool = Field(True, alias="OCR_GPU_AUTOFALLBACK", description="CPU when no CUDA device")
    device_index: int = Field(0, ge=0, alias="OCR_CUDA_DEVICE", description="N of cuda:N")
    precision: Literal["fp16", "bf16", "fp32"] = Field(
        "fp16", alias="OCR_CUDA_PRECISION", description="math of the nets on CUDA (the CPU uses fp32)"
    )
    det_cards: int | None = Field(
        None, ge=1, alias="OCR_CUDA_DET_BATCH", description="cards per detection pass (default by device)"
    )
    rec_lines: int | None = Field(
        None, ge=1, alias="OCR_CUDA_REC_BATCH", description="lines per recognition pass (default by device)"
    )
    max_cards: int = Field(64, ge=1, alias="OCR_CUDA_MAX_CARDS", description="cards per coalesced batch")
    cpu_workers: int = Field(
        default_factory=lambda: min(8, os.cpu_count() or 1),
        ge=1,
        alias="OCR_CUDA_CPU_WORKERS",
        description="threads for pre/post-processing",
    )
    read_timeout_s: float = Field(
        120.0, gt=0, alias="OCR_CUDA_READ_TIMEOUT_S", description="deadline of a read, per card in it"
    )
    warm_up: bool = Field(True, alias="OCR_CUDA_WARM_UP", description="read a synthetic card at start")
    memory_cap_fraction: float = Field(
        0.5, gt=0, le=1, alias="OCR_CUDA_MEMORY_CAP", description="cached GPU memory kept at most"
    )

    @classmethod
    def from_env(cls) -> "EngineSettings":
        try:
            return cls()
        except ValidationError as exc:
            problems = "; ".join(
                f"{err['loc'][0]}={err.get('input')!r}: {err['msg']}" for err in exc.errors()
            )
            raise EngineConfigError(f"bad CUDA engine setting: {problems}") from None


CUDA_LIMITS = BatchLimits(det_cards=16, rec_lines=256, rec_width_growth=1.1)
CPU_LIMITS = BatchLimits(det_cards=1, rec_lines=6, rec_width_growth=None)


@dataclass
class _Request:
    images: list[np.ndarray]
    result: Future


_STOP = object()


class CudaEngine:
    """PP-OCR on a CUDA device (or, with autofallback, on the CPU), batching concurrent reads."""

    name = "cuda"

    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = settings or EngineSettings.from_env()
        self._device = choose_device(self.settings.device_index, self.settings.autofallback)
        self.precision: Precision = self.settings.precision if self._device.type == "cuda" else "fp32"
        torch.backends.cudnn.benchmark = False  # autotuning every new shape stalls the first jobs
        self._pipeline = PpOcrPipeline(
            ppocr_models(),
            self._device,
            self.precision,
            self._limits(),
            cpu_workers=self.settings.cpu_workers,
        )
        self.startup_lines = [*describe(self._device), f"OCR precision: {self.precision}"]
        for line in self.startup_lines:
            log.info(line)
        self.warm_up_s = self._warm_up() if self.settings.warm_up else 0.0
        self.batches = 0  # coalesced batches run so far
        self._requests: queue.Queue = queue.Queue()
        self._gpu_thread = threading.Thread(target=self._serve, name="ocr-gpu", daemon=True)
        self._gpu_thread.start()

    def _limits(self) -> BatchLimits:
        """Big batches on a GPU; on the CPU rapidocr's own (one card, runs of six lines), so that a
        card reads exactly as in the RapidOCR engine: a CPU gains nothing from large batches, and
        the recogniser's output (lines x steps x 18,710 characters) would no longer fit its caches."""
        default = CUDA_LIMITS if self._device.type == "cuda" else CPU_LIMITS
        return BatchLimits(
            det_cards=self.settings.det_cards or default.det_cards,
            rec_lines=self.settings.rec_lines or default.rec_lines,
            rec_width_growth=default.rec_width_growth,
        )

    @property
    def device(self) -> str:
        return str(self._device)

    @property
    def stage_seconds(self) -> dict[str, float]:
        """Seconds spent in each pipeline stage since start (for benchmarks)."""
        return dict(self._pipeline.stage_seconds)

    def read_lines(self, image: Image.Image) -> list[TextLine]:
        return self.read_lines_batch([image])[0]

    def read_lines_batch(self, images: list[Image.Image]) -> list[list[TextLine]]:
        """The text lines of each image, read in as few forward passes as the batch limits allow."""
        request = _Request([bgr(image) for image in images], Future())
        self._requests.put(request)
        deadline_s = self.settings.read_timeout_s * max(1, len(images))
        try:
            return request.result.result(timeout=deadline_s)
        except FutureTimeout:
            raise TimeoutError(
                f"OCR of {len(images)} image(s) on {self.device} took longer than {deadline_s:.0f} s "
                f"(OCR_CUDA_READ_TIMEOUT_S={self.settings.read_timeout_s:g} per card); "
                f"{self._requests.qsize()} request(s) still queued"
            ) from None

    def close(self, timeout_s: float = 30.0) -> None:
        """Finishes the batch in progress, then stops the GPU thread and the CPU pool."""
        self._requests.put(_STOP)
        self._gpu_thread.join(timeout_s)
        if self._gpu_thread.is_alive():
            log.warning("OCR GPU thread still busy %.0f s after close; leaving it to exit", timeout_s)
        self._pipeline.close()

    # -- the GPU thread ------------------------------------------------------------------------

    def _serve(self) -> None:
        while True:
            first = self._requests.get()  # the GPU thread idles here until a read arrives or close()
            if first is _STOP:
                return
            batch, stop = self._coalesce(first)
            self._run(batch)
            if stop:
                return

    def _coalesce(self, first: _Request) -> tuple[list[_Request], bool]:
        """``first`` and every request already waiting, up to ``max_cards`` cards in all."""
        batch, cards = [first], len(first.images)
        while cards < self.settings.max_cards:
            try:
                more = self._requests.get_nowait()
            except queue.Empty:
                break
            if more is _STOP:
                return batch, True
            batch.append(more)
            cards += len(more.images)
        return batch, False

    def _run(self, batch: list[_Request]) -> None:
        images = [image for request in batch for image in request.images]
        self.batches += 1
        try:
            lines = self._pipeline.read(images)
        except Exception as exc:  # noqa: BLE001 - handed to every caller of the batch, never lost
            log.exception("OCR batch of %d card(s) failed on %s", len(images), self.device)
            for request in batch:
                request.result.set_exception(exc)
            return
        offset = 0
        for request in batch:
            request.result.set_result(lines[offset : offset + len(request.images)])
            offset += len(request.images)
        self._bound_memory()

    def _bound_memory(self) -> None:
        if self._device.type != "cuda":
            return
        total = torch.cuda.get_device_properties(self._device).total_memory
        reserved = torch.cuda.memory_reserved(self._device)
        if reserved > self.settings.memory_cap_fraction * total:
            torch.cuda.empty_cache()
            log.info(
                "OCR: cached GPU memory %.1f GiB over the cap (%.0f%% of %.1f GiB): released",
                reserved / 2**30, 100 * self.settings.memory_cap_fraction, total / 2**30,
            )

    def _warm_up(self) -> float:
        """One synthetic card through every net, so the first real job meets no one-time costs."""
        start = perf_counter()
        lines = self._pipeline.read([bgr(warm_up_card())])
        if self._device.type == "cuda":
            torch.cuda.synchronize(self._device)
        elapsed = perf_counter() - start
        log.info("OCR warm-up on %s: %.2f s, read %d line(s)", self.device, elapsed, len(lines[0]))
        return elapsed


def bgr(image: Image.Image) -> np.ndarray:
    """The pixels as OpenCV's BGR array, converted exactly as the RapidOCR engine converts them."""
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])


def warm_up_card() -> Image.Image:
    """A KTP-sized image with a few printed lines (Pillow's built-in font: no font files needed)."""
    image = Image.new("RGB", (1011, 638), (214, 232, 245))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=28)
    for row, text in enumerate(("PROVINSI JAWA BARAT", "NIK : 3204123112900001", "Nama : WARM UP")):
        draw.text((40, 40 + 60 * row), text, fill=(20, 20, 20), font=font)
    return image
