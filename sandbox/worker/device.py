"""Where OCR runs: a CUDA device when one is there and wanted, else the CPU (or a refusal).

Stdlib only at import: torch is imported lazily, only when an NVIDIA driver is there and torch is
installed, so that a CPU-only machine never pays for it; an absent or broken torch means "no CUDA device".
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from sandbox.jsonlog import fields
from sandbox.ocr import nvidia_smi

log = logging.getLogger(__name__)

CPU = "cpu"
NVIDIA_DRIVER_PROC = Path("/proc/driver/nvidia/version")


class DeviceUnavailable(Exception):
    """A GPU was required (no autofallback) and none is usable."""


@dataclass(frozen=True)
class GpuInfo:
    """What the start-up log says about the GPU (the gpu gate greps the worker's log for it)."""

    device: str  # "cuda:0"
    name: str
    driver: str
    cuda: str
    memory: str
    nvidia_smi: str | None  # the raw `nvidia-smi --query-gpu` line, when nvidia-smi is installed

    @property
    def summary(self) -> str:
        return f"GPU detected: {self.name}, driver {self.driver}, CUDA {self.cuda}, memory {self.memory} ({self.device})"


def _nvidia_driver_present() -> bool:
    """The NVIDIA kernel driver is loaded (containers see the host's /proc), or its tool is installed."""
    return NVIDIA_DRIVER_PROC.exists() or shutil.which("nvidia-smi") is not None


def probe_cuda() -> GpuInfo | str:
    """The first CUDA device, or the reason there is none (without importing torch when it cannot help)."""
    if not _nvidia_driver_present():
        return f"no CUDA device: no NVIDIA driver ({NVIDIA_DRIVER_PROC} absent, no nvidia-smi)"
    if importlib.util.find_spec("torch") is None:
        return "no CUDA device: torch is not installed"
    try:
        import torch
    except (ImportError, OSError) as error:
        return f"no CUDA device: torch does not import ({error})"
    if not torch.cuda.is_available():
        return "no CUDA device: torch.cuda.is_available() is false"
    smi = next(iter(nvidia_smi.gpu_lines()), None)
    smi_parts = [part.strip() for part in smi.split(",")] if smi else []
    if len(smi_parts) >= 3:
        name, driver, memory = smi_parts[:3]
    else:
        properties = torch.cuda.get_device_properties(0)
        name, driver, memory = properties.name, "unknown (no nvidia-smi)", f"{properties.total_memory // 2**20} MiB"
    return GpuInfo(device="cuda:0", name=name, driver=driver, cuda=str(torch.version.cuda), memory=memory, nvidia_smi=smi)


def choose_device(gpu_enabled: bool, autofallback: bool) -> str:
    """``"cuda:0"`` or ``"cpu"``, saying which and why in the log; raises DeviceUnavailable."""
    if not gpu_enabled:
        log.info("GPU disabled (OCR_GPU_ENABLED=false); running on CPU", extra=fields(device=CPU))
        return CPU
    gpu = probe_cuda()
    if isinstance(gpu, GpuInfo):
        log.info(
            gpu.summary,
            extra=fields(
                device=gpu.device, gpu=gpu.name, driver=gpu.driver, cuda=gpu.cuda, memory=gpu.memory, nvidiaSmi=gpu.nvidia_smi
            ),
        )
        return gpu.device
    if not autofallback:
        raise DeviceUnavailable(f"OCR_GPU_ENABLED=true and OCR_GPU_AUTOFALLBACK=false, but GPU not available ({gpu})")
    log.warning(f"GPU not available ({gpu}); falling back to CPU", extra=fields(device=CPU, reason=gpu))
    return CPU
