"""``python -m sandbox.api``: read the environment, then serve the API with uvicorn.

A bad or missing setting prints one line on stderr and exits with status 2 (no traceback).
"""

from __future__ import annotations

import logging
import os
import sys

from sandbox import jsonlog
from sandbox.api.logs import SERVICE
from sandbox.api.settings import ConfigError, load_settings
from sandbox.envsettings import refuse


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as error:
        refuse(SERVICE, str(error))
    # The server's heavy imports come after the settings are known good, so a bad setting fails fast.
    import uvicorn

    from sandbox.api import defects
    from sandbox.api.app import create_app
    from sandbox.api.scoring import ScorerUnavailable

    try:
        build = defects.apply_from_environment()
    except ValueError as error:
        refuse(SERVICE, str(error))
    try:
        app = create_app(settings)
    except ScorerUnavailable as error:
        refuse(SERVICE, str(error))
    jsonlog.setup(SERVICE)
    if build.defect:
        logging.getLogger("filot.api").warning("this build carries sandbox defect %s", build.defect)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per BULI2 health probe is noise
    if not settings.temporal_disabled:
        import asyncio

        from sandbox.api.temporal_worker import TemporalUnavailable, connect

        try:
            asyncio.run(connect(settings))  # a namespace Temporal does not know ends the task here, saying so
        except TemporalUnavailable as exc:
            logging.getLogger("filot.api").error("cannot start: %s", exc)
            logging.shutdown()
            # Not sys.exit: the Temporal SDK's runtime threads, still alive, can abort the interpreter's
            # finalization (SIGABRT, "PyGILState_Release ... finalizing"), and the exit status says 134, not 1.
            os._exit(1)
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_config=None, proxy_headers=True, timeout_graceful_shutdown=10,
        **build.server_options,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
