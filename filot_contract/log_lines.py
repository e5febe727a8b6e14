"""Log lines other parts rely on (seed 000 section 2 "Log group shows application startup logs").

Each FiLot service writes one start-up line when it is ready to serve; the gate looks for it in the
CloudWatch stream of every task of a deployment, so it must not change without this module.
"""

from __future__ import annotations

#: service key -> the message of its start-up line (the ``msg`` of the JSON log line).
STARTUP_MESSAGES = {"backend": "FiLot API started", "ocr-gpu": "ocr worker started"}
