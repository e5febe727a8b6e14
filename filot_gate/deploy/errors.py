"""What can go wrong when deploying or rolling back, each with a message an operator can act on."""

from __future__ import annotations


class DeployError(Exception):
    """A deploy or rollback cannot proceed, or did not reach the state it aimed for."""


class RollbackRefused(DeployError):
    """The live state is not the one the rollback was planned against (re-read before mutating)."""


class DeploymentFailed(DeployError):
    """ECS reports the deployment FAILED (the circuit breaker gave up on it)."""


class StabilityTimeout(DeployError):
    """The service did not become stable before the deadline."""
