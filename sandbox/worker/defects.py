"""Bugs a release of the OCR worker can ship with, for the gate's checks to catch (the API's are in
``sandbox.api.defects``). The image's ENV names one (``DEFECT_ENV``, baked in by a ``worker-release-...``
fault); no task definition names it, so every configuration check still passes. Without it the worker
is unchanged."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sandbox.images import defect_of_this_build


@dataclass(frozen=True)
class Build:
    """What the image's ENV made of this worker: its defect (None: a sound build) and the level of its
    per-job line (info in a sound build)."""

    defect: str | None = None
    job_line_level: int = logging.INFO


#: Each defect and the level of the per-job line in a build with it: ``job-line-at-debug`` is a noisy-log
#: clean-up gone too far; at the default level the worker still works, and no OCR result reaches its log.
JOB_LINE_LEVELS = {"job-line-at-debug": logging.DEBUG}


def build_from_environment() -> Build:
    name = defect_of_this_build(JOB_LINE_LEVELS)
    return Build(name, JOB_LINE_LEVELS[name]) if name else Build()
