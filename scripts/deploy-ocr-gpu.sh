#!/usr/bin/env bash
# Deploy the GPU OCR worker (seed 000 step 3, seed 001): register infra/ecs/filot-ocr-gpu-task.json
# with the image of image-versions.json, update filot-ocr-gpu-service, write deploy-record.json, wait
# until stable. Extra arguments go to the deploy command (--image-tag previous, --record, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m filot_gate.deploy deploy --service ocr-gpu "$@"
