"""``python -m sandbox.buli2``: the BULI2 simulator on ``HOST:PORT`` (exit 2 on bad configuration)."""

from __future__ import annotations

import logging
import os
import sys

import uvicorn

from sandbox import jsonlog
from sandbox.buli2.app import create_app
from sandbox.buli2.settings import SECRET_NAMES, Buli2Settings
from sandbox.envsettings import load_or_exit

SERVICE = "buli2-simulator"


def main() -> int:
    jsonlog.setup(SERVICE)
    settings = load_or_exit(Buli2Settings, os.environ, SERVICE, SECRET_NAMES)
    logging.getLogger("sandbox.buli2").info(
        "buli2 simulator starting",
        extra=jsonlog.fields(
            host=settings.host,
            port=settings.port,
            callbackUrl=settings.callback_url,
            callbackDelayMs=settings.callback_delay_ms,
            defaultDecision=settings.default_decision,
            callbackMaxAttempts=settings.callback_max_attempts,
        ),
    )
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
