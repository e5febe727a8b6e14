"""Default AWS resource names of a FiLot deployment (seeds 000, 001, 003).

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
IAM_ROLES = (
    "ecsTaskExecutionRole",
    "ecsInstanceRole",
    "ecsTaskRole",
    "ecsInfrastructureRoleForManagedInstances",
)
BACKEND_LOG_GROUP = "/ecs/filot-backend"
GPU_LOG_GROUP = "/ecs/filot-ocr-gpu-worker"
LOG_RETENTION_DAYS = 90
SECRETS_PREFIX = "filot/production"
ALB_NAME = "filot-backend-alb"
TARGET_GROUP_NAME = "filot-backend-tg"
DEFAULT_REGION = "ap-southeast-2"

#: (cluster, service, task family, container) of each FiLot ECS service.
SERVICES = {
    "backend": (BACKEND_CLUSTER, BACKEND_SERVICE, BACKEND_FAMILY, BACKEND_CONTAINER),
    "ocr-gpu": (GPU_CLUSTER, GPU_SERVICE, GPU_FAMILY, GPU_CONTAINER),
}

#: ECR repository of each service's image (the deploy record names the digest, this the repository).
REPOSITORIES = {"backend": BACKEND_REPOSITORY, "ocr-gpu": GPU_REPOSITORY}
#: CloudWatch log group of each service's containers (the task definitions' ``awslogs-group``).
LOG_GROUPS = {"backend": BACKEND_LOG_GROUP, "ocr-gpu": GPU_LOG_GROUP}
#: Path of the ALB target group's health check: the backend's ``GET /health``.
HEALTH_CHECK_PATH = "/health"
