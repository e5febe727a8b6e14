#!/usr/bin/env bash
# Deploy the Entity & Permissions Core (seed 004 "Quick Deploy"): register infra/ecs/omen-epr-task.json
# (API and audit worker in one task) with the image of image-versions.json, update omen-epr-service,
# write deploy-record.json, wait until stable. Extra arguments go to the deploy command.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -m filot_gate.deploy deploy --service epr "$@"
