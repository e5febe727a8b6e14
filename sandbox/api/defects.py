"""Bugs a release of the API can ship with, for the gate's checks to catch: the sandbox's stand-in for
deploying a wrong build. An image carries one in its ENV (``FILOT_SANDBOX_DEFECT``, baked in by ``python
-m sandbox fault backend-release-without-input-validation``); no task definition names it, so every
configuration check still passes, as it would for a build with a bug. Without it the API is unchanged.
"""

from __future__ import annotations

import os
from typing import Callable

#: The image ENV that names the defect of this build.
DEFECT_ENV = "FILOT_SANDBOX_DEFECT"


def _no_input_validation() -> None:
    """The verification routes take any document id as it comes: the database, not the API, refuses a
    malformed one, and the client gets a 5xx instead of a 422."""
    from sandbox.api.routes import verification

    verification._document_id = lambda value: value  # type: ignore[assignment]


DEFECTS: dict[str, Callable[[], None]] = {"no-input-validation": _no_input_validation}


def apply_from_environment() -> str | None:
    """Build the defect the image names into this process; its name, or None for a sound build."""
    name = os.environ.get(DEFECT_ENV)
    if not name:
        return None
    if name not in DEFECTS:
        raise ValueError(f"{DEFECT_ENV}={name!r}: no such defect (known: {', '.join(DEFECTS)})")
    DEFECTS[name]()
    return name
