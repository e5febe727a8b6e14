#!/usr/bin/env bash
# Move OCR jobs stuck in filot:ocr:gpu:processing back to filot:ocr:gpu:queue (seed 000 runbook).
# Reads REDIS_URL (and REDIS_PASSWORD) from the environment; --dry-run shows what would move.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec "${PYTHON:-.venv/bin/python}" -m filot_gate.deploy requeue-stuck-jobs "$@"
