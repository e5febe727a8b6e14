"""``python -m sandbox.worker``: configure from the environment, pick the device, run until SIGTERM.

Exit status: 0 after a clean shutdown, 1 when Redis never answered at start, 2 on bad configuration
(a bad variable, a GPU required but absent, an engine that cannot load, a port that cannot be bound).
"""

from __future__ import annotations

import logging
import os
import signal
import sys

from sandbox import jsonlog
from sandbox.envsettings import load_or_exit, refuse
from sandbox.worker import defects
from sandbox.worker.connections import redis_client, s3_client
from sandbox.worker.device import DeviceUnavailable, choose_device
from sandbox.worker.engines import EngineUnavailable, load_recognizer
from sandbox.worker.health import HealthServer
from sandbox.worker.settings import SECRET_NAMES, WorkerSettings
from sandbox.worker.worker import RedisUnreachable, Worker

SERVICE = "ocr-worker"
log = logging.getLogger("sandbox.worker")


def main() -> int:
    jsonlog.setup(SERVICE)
    settings = load_or_exit(WorkerSettings, os.environ, SERVICE, SECRET_NAMES)
    try:
        build = defects.build_from_environment()
    except ValueError as error:
        refuse(SERVICE, str(error))
    try:
        device = choose_device(settings.gpu_enabled, settings.autofallback)
        recognizer = load_recognizer(settings.engine, device)
    except (DeviceUnavailable, EngineUnavailable) as error:
        refuse(SERVICE, str(error))
    worker = Worker(
        settings,
        client=redis_client(settings, blocking_s=settings.poll_interval_s),
        probe=redis_client(settings),
        storage=s3_client(settings),
        recognizer=recognizer,
        job_line_level=build.job_line_level,
    )
    try:
        health = HealthServer(settings.host, settings.health_port, worker.health)
    except OSError as error:
        refuse(SERVICE, f"cannot serve /health on HOST={settings.host} WORKER_HEALTH_PORT={settings.health_port}: {error}")
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: worker.stop())
    if build.defect:
        log.warning("this build carries sandbox defect %s", build.defect)
    health.start()
    log.info("health endpoint listening", extra=jsonlog.fields(url=f"http://{settings.host}:{health.port}/health"))
    try:
        worker.run()
    except RedisUnreachable as error:
        log.error(str(error))
        return 1
    finally:
        health.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
