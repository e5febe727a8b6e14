"""Which device the CUDA engine runs on, and the start-up lines that prove it.

The known trap is a silent CPU fallback: a worker deployed on a GPU instance that quietly runs on the
CPU. So the choice is explicit: ``cuda:N`` when torch sees a CUDA device; otherwise the CPU only when
autofallback is on (the result then says ``device: "cpu"``), else ``NoCudaDevice`` with the reason.
"""

from __future__ import annotations

import logging

import torch

from sandbox.ocr import nvidia_smi

log = logging.getLogger(__name__)



class NoCudaDevice(RuntimeError):
    """No usable CUDA device, and CPU fallback is off."""


def choose_device(index: int, autofallback: bool) -> torch.device:
    """``cuda:index`` when it exists; the CPU when it does not and ``autofallback`` is on."""
    if torch.cuda.is_available() and index < torch.cuda.device_count():
        return torch.device("cuda", index)
    reason = _why_no_cuda(index)
    if not autofallback:
        raise NoCudaDevice(f"CUDA device {index} expected, {reason}; OCR_GPU_AUTOFALLBACK is false")
    log.warning("CUDA engine falls back to the CPU: %s (OCR_GPU_AUTOFALLBACK is true)", reason)
    return torch.device("cpu")


def _why_no_cuda(index: int) -> str:
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device"
    return f"only {torch.cuda.device_count()} CUDA device(s) visible"


def describe(device: torch.device) -> list[str]:
    """Start-up lines: GPU name, driver and CUDA versions, memory (or why it is the CPU)."""
    if device.type != "cuda":
        return [f"OCR device: cpu (torch {torch.__version__}, {torch.get_num_threads()} threads)"]
    props = torch.cuda.get_device_properties(device)
    free, total = torch.cuda.mem_get_info(device)
    lines = [
        f"OCR device: {device} {props.name}, compute capability {props.major}.{props.minor}, "
        f"{props.multi_processor_count} SMs, memory {total / 2**30:.1f} GiB total, {free / 2**30:.1f} GiB free; "
        f"torch {torch.__version__}, CUDA runtime {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}",
    ]
    smi = " | ".join(nvidia_smi.gpu_lines())
    lines.append(f"nvidia-smi: {smi}" if smi else "nvidia-smi: not available in this container")
    return lines
