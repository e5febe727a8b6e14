#!/usr/bin/env bash
# Deploy the FiLot backend (seed 000 step 2): register infra/ecs/filot-backend-task.json with the
# image of image-versions.json, update filot-backend-service, write deploy-record.json, wait until
# stable. Extra arguments go to the deploy command (--image-tag previous, --record, --deadline, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m filot_gate.deploy deploy --service backend "$@"
