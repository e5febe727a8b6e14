"""What each container image of FiLot runs in the sandbox: a local Python program per repository.

The sandbox has no Docker engine, so an image reference (``<registry>/<repo>@sha256:...`` or
``:<tag>``) maps to a module of this repository by its repository name. An image whose tag or
digest is listed as broken (``python -m sandbox deploy --broken crash``) runs a program that exits,
like an image whose entrypoint crashes. A container's ``command`` is passed to the program as its
arguments, as Docker passes it to the image's entrypoint (EPR's image runs its API, or with
``audit-worker`` its audit worker).
"""

from __future__ import annotations

import sys

from filot_contract import aws_names

PROGRAMS = {
    aws_names.BACKEND_REPOSITORY: "sandbox.api",
    aws_names.GPU_REPOSITORY: "sandbox.worker",
    aws_names.EPR_REPOSITORY: "sandbox.epr",
}
CRASHING_TAG = "crashing"


def repository_of(image: str) -> str:
    """``acct.dkr.ecr.region.amazonaws.com/filot-backend@sha256:ab`` -> ``filot-backend``."""
    name = image.rsplit("/", 1)[-1]
    return name.split("@", 1)[0].split(":", 1)[0]


def command_for(image: str, command: list[str] | None = None) -> list[str]:
    repository = repository_of(image)
    if repository not in PROGRAMS:
        raise ValueError(f"image {image!r}: no sandbox program for repository {repository!r} (known: {', '.join(PROGRAMS)})")
    if image.endswith(":" + CRASHING_TAG):
        return [sys.executable, "-c", f"import sys; print('{repository}: entrypoint crashed (sandbox crashing image)'); sys.exit(3)"]
    return [sys.executable, "-m", PROGRAMS[repository], *(command or [])]
