"""What each container image of FiLot runs in the sandbox: a local Python program per repository.

The sandbox has no Docker engine, so an image reference (``<registry>/<repo>@sha256:...`` or
``:<tag>``) maps to a module of this repository by its repository name. A container's ``command`` is
passed to the program as its arguments, as Docker passes it to the image's entrypoint (EPR's image runs
its API, or with ``audit-worker`` its audit worker). What a Dockerfile's ``ENV`` bakes into a real image,
a sandbox image's manifest carries as the annotation ``ENV_ANNOTATION``; the agent sets it before the
task definition's environment, as Docker does.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Iterable

from filot_contract import aws_names

PROGRAMS = {
    aws_names.BACKEND_REPOSITORY: "sandbox.api",
    aws_names.GPU_REPOSITORY: "sandbox.worker",
    aws_names.EPR_REPOSITORY: "sandbox.epr",
}
#: The manifest annotation that holds a sandbox image's ENV, a JSON object of names and values.
ENV_ANNOTATION = "org.filot.sandbox.env"
#: The image ENV that names the bug a build ships with (``sandbox.api.defects``, ``sandbox.worker.defects``),
#: baked in by the ``*-release-...`` faults; no task definition names it.
DEFECT_ENV = "FILOT_SANDBOX_DEFECT"


def defect_of_this_build(known: Iterable[str]) -> str | None:
    """The defect this process's image ENV names (None: a sound build); a name the program does not know
    is a ValueError naming the ones it does."""
    name = os.environ.get(DEFECT_ENV) or None
    if name is not None and name not in known:
        raise ValueError(f"{DEFECT_ENV}={name!r}: no such defect (known: {', '.join(known)})")
    return name


def repository_of(image: str) -> str:
    """``acct.dkr.ecr.region.amazonaws.com/filot-backend@sha256:ab`` -> ``filot-backend``."""
    name = image.rsplit("/", 1)[-1]
    return name.split("@", 1)[0].split(":", 1)[0]


def command_for(image: str, command: list[str] | None = None) -> list[str]:
    repository = repository_of(image)
    if repository not in PROGRAMS:
        raise ValueError(f"image {image!r}: no sandbox program for repository {repository!r} (known: {', '.join(PROGRAMS)})")
    return [sys.executable, "-m", PROGRAMS[repository], *(command or [])]


def image_environment(manifest: str) -> dict[str, str]:
    """The ENV of the image whose manifest is ``manifest`` (none for an image that sets none)."""
    annotations = json.loads(manifest).get("annotations") or {}
    return json.loads(annotations.get(ENV_ANNOTATION, "{}"))
