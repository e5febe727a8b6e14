"""Default AWS resource names of a FiLot deployment (seeds 000, 001, 003, 004).

The manifests under ``infra/`` are the expected state; these constants are the names the manifests
and the sandbox use. A gate profile may override any of them for a deployment named otherwise.
"""

from __future__ import annotations

BACKEND_CLUSTER = "filot-backend-cluster"
GPU_CLUSTER = "filot-ocr-gpu-cluster"
BACKEND_SERVICE = "filot-backend-service"
GPU_SERVICE = "filot-ocr-gpu-service"
BACKEND_FAMILY = "filot-backend-task"
GPU_FAMILY = "filot-ocr-gpu-worker"
BACKEND_CONTAINER = "filot-backend"
GPU_CONTAINER = "filot-ocr-gpu-worker"
BACKEND_REPOSITORY = "filot-backend"
GPU_REPOSITORY = "filot-ocr-gpu-worker"
GPU_ASG = "filot-ocr-gpu-asg"
GPU_LAUNCH_TEMPLATE = "filot-ocr-gpu-template"
# Entity & Permissions Core (seed 004): API and audit worker in one task, on their own cluster.
EPR_CLUSTER = "omen-production"
EPR_SERVICE = "omen-epr-service"
EPR_FAMILY = "omen-epr"
EPR_CONTAINER = "omen-epr"
#: The non-essential container of the EPR task: it consumes the audit queue.
EPR_WORKER_CONTAINER = "audit-worker"
EPR_REPOSITORY = "omen-epr"
EPR_LOG_GROUP = "/ecs/omen-epr"
EPR_TASK_ROLE = "omenEprTaskRole"
#: The task role's inline policy that lets the audit worker consume its queue (seed 004 "Troubleshooting").
EPR_QUEUE_POLICY = "SQSAccess"
#: Inline policy of the EPR task role that lets ``aws ecs execute-command`` open its SSM channels.
EPR_EXEC_POLICY = "ECSExec"
#: SNS topic EPR publishes document-vault events to, and the topic whose audit events reach the worker's queue.
EPR_DOCUMENT_TOPIC = "epr-document-events"
EPR_AUDIT_TOPIC = "epr-audit-events"
EPR_AUDIT_QUEUE = "epr-audit-events-queue"
#: Where the audit worker's queue moves a message it could not handle after a few receives.
EPR_AUDIT_DEAD_LETTER_QUEUE = "epr-audit-events-dlq"
#: EPR's load balancer and the target group its tasks register in, health-checked on /healthz.
EPR_ALB_NAME = "omen-epr-alb"
EPR_TARGET_GROUP_NAME = "omen-epr-tg"
#: Security groups of EPR's load balancer and of its tasks (seed 004 "Restrict security group rules").
EPR_LB_SECURITY_GROUP = "omen-epr-lb"
EPR_TASKS_SECURITY_GROUP = "omen-epr-tasks"
#: The port the EPR API listens on behind its load balancer (seed 004 "Architecture Overview").
EPR_API_PORT = 8080
#: The role the deployment gate reads with and rolls a no-go back with (profile ``[aws] role_arn``).
GATE_ROLE = "filot-deployment-gate"
#: Its inline policy of reads (the deployment, older revisions to roll back to, FiLot's secrets).
GATE_READ_POLICY = "filot-gate-read"
IAM_ROLES = (
    "ecsTaskExecutionRole",
    "ecsInstanceRole",
    "ecsTaskRole",
    "ecsInfrastructureRoleForManagedInstances",
    EPR_TASK_ROLE,
    GATE_ROLE,
)
BACKEND_LOG_GROUP = "/ecs/filot-backend"
GPU_LOG_GROUP = "/ecs/filot-ocr-gpu-worker"
LOG_RETENTION_DAYS = 90
SECRETS_PREFIX = "filot/production"
ALB_NAME = "filot-backend-alb"
TARGET_GROUP_NAME = "filot-backend-tg"
DEFAULT_REGION = "ap-southeast-2"

#: (cluster, service, task family, essential container) of each ECS service the gate verifies.
SERVICES = {
    "backend": (BACKEND_CLUSTER, BACKEND_SERVICE, BACKEND_FAMILY, BACKEND_CONTAINER),
    "ocr-gpu": (GPU_CLUSTER, GPU_SERVICE, GPU_FAMILY, GPU_CONTAINER),
    "epr": (EPR_CLUSTER, EPR_SERVICE, EPR_FAMILY, EPR_CONTAINER),
}

#: ECR repository of each service's image (the deploy record names the digest, this the repository).
REPOSITORIES = {"backend": BACKEND_REPOSITORY, "ocr-gpu": GPU_REPOSITORY, "epr": EPR_REPOSITORY}
#: CloudWatch log group of each service's containers (the task definitions' ``awslogs-group``).
LOG_GROUPS = {"backend": BACKEND_LOG_GROUP, "ocr-gpu": GPU_LOG_GROUP, "epr": EPR_LOG_GROUP}
#: Path of the ALB target group's health check: the backend's ``GET /health``.
HEALTH_CHECK_PATH = "/health"
#: The EPR API's health route (seed 004 "Health Check Endpoint").
EPR_HEALTH_CHECK_PATH = "/healthz"
#: The target group of each service behind a load balancer, and the health route it checks.
TARGET_GROUPS = {"backend": (TARGET_GROUP_NAME, HEALTH_CHECK_PATH), "epr": (EPR_TARGET_GROUP_NAME, EPR_HEALTH_CHECK_PATH)}
