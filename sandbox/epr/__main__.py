"""``python -m sandbox.epr [audit-worker]``: the EPR image's entrypoint; the container's command picks
the role. A bad or missing setting prints one line on stderr and exits with status 2."""

from __future__ import annotations

import logging
import os
import sys

from sandbox import jsonlog
from sandbox.envsettings import load_or_exit, refuse
from sandbox.epr.settings import SECRET_NAMES, ApiSettings, AuditWorkerSettings

ROLES = ("api", "audit-worker")


def main(argv: list[str]) -> int:
    role = argv[0] if argv else "api"
    if role not in ROLES or len(argv) > 1:
        refuse("omen-epr", f"expected a command of {' or '.join(ROLES)}, got {' '.join(argv)!r}")
    if role == "audit-worker":
        from sandbox.epr.audit_consumer import AuditConsumer

        worker_settings = load_or_exit(AuditWorkerSettings, os.environ, "audit-worker", SECRET_NAMES)
        jsonlog.setup("audit-worker", getattr(logging, worker_settings.log_level))
        logging.getLogger("botocore").setLevel(logging.WARNING)
        return AuditConsumer(worker_settings).run()
    settings = load_or_exit(ApiSettings, os.environ, "omen-epr", SECRET_NAMES)
    import uvicorn

    from sandbox.epr import cache
    from sandbox.epr.api import create_app

    jsonlog.setup("omen-epr", getattr(logging, settings.log_level))
    try:
        cache.ping(settings)
    except cache.CacheUnavailable as exc:
        logging.getLogger("epr.api").error("cannot start: %s", exc)
        return 1
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None,
                timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
