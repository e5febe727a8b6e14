"""The one ``nvidia-smi`` query FiLot's worker logs at start-up (stdlib only, so a CPU machine can
import it): the gpu gate looks for this line in the worker's log as proof of the GPU."""

from __future__ import annotations

import logging
import shutil
import subprocess

log = logging.getLogger(__name__)

#: Columns of the line; the first three (name, driver, total memory) are what the worker reports.
QUERY = "name,driver_version,memory.total,memory.used,compute_cap"
TIMEOUT_S = 10.0


def gpu_lines() -> list[str]:
    """One CSV line per GPU from ``nvidia-smi --query-gpu``, or [] when the tool is absent or fails."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return []
    try:
        done = subprocess.run([binary, f"--query-gpu={QUERY}", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=TIMEOUT_S, check=True)
    except (subprocess.SubprocessError, OSError) as exc:
        log.warning("nvidia-smi failed: %s", exc)
        return []
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]
