"""Log lines other parts rely on (seed 000 section 2 "Log group shows application startup logs", section
7 step 4 "logs show OCR result", seed 004 "View Container Logs").

Each container writes one start-up line when it is ready to serve, and the OCR worker one line per job it
finished; the gate looks for them in CloudWatch, so they must not change without this module.
"""

from __future__ import annotations

from filot_contract import aws_names
from filot_contract.epr import AUDIT_WORKER_STARTED

#: service key -> the message of its start-up line (the ``msg`` of the JSON log line).
STARTUP_MESSAGES = {"backend": "FiLot API started", "ocr-gpu": "ocr worker started", "epr": "EPR API started"}
#: service key -> {container beside its main one -> the message of that container's start-up line}.
SIDECAR_STARTUP_MESSAGES = {"epr": {aws_names.EPR_WORKER_CONTAINER: AUDIT_WORKER_STARTED}}
#: The OCR worker's line for each job it finished (info level, with jobId, status, confidence, durationMs):
#: the OCR result an operator looks for in its log (seed 000 section 7 step 4).
JOB_FINISHED = "job finished"


def startup_messages(service_key: str) -> dict[str, str]:
    """Container name -> start-up message, for every container of the service's task that writes one."""
    main = aws_names.SERVICES[service_key][3]
    return {main: STARTUP_MESSAGES[service_key], **SIDECAR_STARTUP_MESSAGES.get(service_key, {})}
