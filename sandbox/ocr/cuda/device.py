"""Which device the CUDA engine runs on, and the start-up lines that prove it.

The known trap is a silent CPU fallback: a worker deployed on a GPU instance that quietly runs on the
CPU. So the choice is explicit: ``cuda:N`` when torch sees a CUDA device; otherwise the CPU only when
autofallback is on (the result then says ``device: "cpu"``), else ``NoCudaDevice`` with the reason.
"""

from __future__ import annotations

import logging
import shutil
import subprocess

import torch

log = logging.getLogger(__name__)

#: The columns of the ``nvidia-smi`` line logged at start-up (the gpu gate looks for it).
NVIDIA_SMI_QUERY = "name,driver_version,memory.total,memory.used,compute_cap"
NVIDIA_SMI_TIMEOUT_S = 10.0


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


def nvidia_smi_line() -> str | None:
    """``nvidia-smi``'s one-line description of the GPUs, or None when the tool is absent or fails."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return None
    try:
        done = subprocess.run(
            [binary, f"--query-gpu={NVIDIA_SMI_QUERY}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=NVIDIA_SMI_TIMEOUT_S,
            check=True,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        log.warning("nvidia-smi failed: %s", exc)
        return None
    return " | ".join(line.strip() for line in done.stdout.splitlines() if line.strip())


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
    smi = nvidia_smi_line()
    lines.append(f"nvidia-smi: {smi}" if smi else "nvidia-smi: not available in this container")
    return lines
