"""Deploy and roll back FiLot's ECS services, the same library for the CLI, the sandbox and the gate.

``python -m filot_gate.deploy deploy|rollback|requeue-stuck-jobs``; every function takes the boto3 (or
redis-py) clients it uses, so the caller decides the target (AWS, or the sandbox via AWS_ENDPOINT_URL).
"""

from filot_gate.deploy.calls import AwsCall, execute
from filot_gate.deploy.errors import DeployError, DeploymentFailed, RollbackRefused, StabilityTimeout
from filot_gate.deploy.record import (
    DeployRecord, ServiceRecord, load_record, mark_accepted, new_run_id, record_service, write_record)
from filot_gate.deploy.release import deploy_service, resolve_params, secret_arns, service_names
from filot_gate.deploy.requeue import RequeueReport, StuckJob, requeue_stuck_jobs
from filot_gate.deploy.rollback import STRATEGIES, Strategy, expected_after, plan_rollback, plan_scale_to_zero
from filot_gate.deploy.stability import ServiceState, wait_for_stable

__all__ = [
    "AwsCall",
    "DeployError",
    "DeployRecord",
    "DeploymentFailed",
    "RequeueReport",
    "RollbackRefused",
    "STRATEGIES",
    "ServiceRecord",
    "ServiceState",
    "StabilityTimeout",
    "Strategy",
    "StuckJob",
    "deploy_service",
    "execute",
    "expected_after",
    "load_record",
    "mark_accepted",
    "new_run_id",
    "plan_rollback",
    "plan_scale_to_zero",
    "record_service",
    "requeue_stuck_jobs",
    "resolve_params",
    "secret_arns",
    "service_names",
    "wait_for_stable",
    "write_record",
]
