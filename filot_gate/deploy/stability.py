"""Wait until an ECS service is stable on the expected revision: polled with a deadline, never slept on.

Stable means what ``aws ecs wait services-stable`` means, made stricter: one deployment, the PRIMARY
one on the expected task definition with rollout COMPLETED, and running == desired. A deployment the
circuit breaker marks FAILED ends the wait at once with the service's events and the stopped tasks'
reasons as evidence, and so does
the awaited deployment losing PRIMARY to another one (a circuit-breaker rollback that already cleaned
up the failed deployment, or a deploy by someone else): that wait could only run into its deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from tenacity import RetryCallState, Retrying, retry_if_result, stop_before_delay, wait_fixed

from filot_gate.deploy.errors import DeploymentFailed, StabilityTimeout
from filot_gate.deploy.state import describe_service, recent_events, stopped_reasons

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ServiceState:
    """What one poll saw, and whether it is the awaited state."""

    service: dict[str, Any]
    stable: bool
    summary: str


def assess(service: dict[str, Any], task_definition: str | None, desired_count: int | None) -> ServiceState:
    """Judge one ``describe-services`` answer against the expected revision and desired count."""
    deployments = service.get("deployments", [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), {})
    failed = [d for d in deployments if d.get("rolloutState") == "FAILED"
              and (task_definition is None or d.get("taskDefinition") == task_definition)]
    if failed:
        raise DeploymentFailed(
            f"{service['serviceName']}: deployment {failed[0].get('id')} of {failed[0].get('taskDefinition')} FAILED: "
            f"{failed[0].get('rolloutStateReason', 'no reason given')}\n{recent_events(service)}")
    rollout = primary.get("rolloutState", "COMPLETED")
    summary = (f"primary={primary.get('taskDefinition', '-').rsplit('/', 1)[-1]} rollout={rollout} "
               f"running={service.get('runningCount')}/{service.get('desiredCount')} deployments={len(deployments)}")
    stable = (
        len(deployments) == 1
        and rollout == "COMPLETED"
        and service.get("runningCount") == service.get("desiredCount")
        and (task_definition is None or primary.get("taskDefinition") == task_definition)
        and (desired_count is None or service.get("desiredCount") == desired_count)
    )
    return ServiceState(service, stable, summary)


def wait_for_stable(
    ecs: Any,
    cluster: str,
    service: str,
    *,
    task_definition: str | None = None,
    desired_count: int | None = None,
    deadline_s: float = 600.0,
    poll_s: float = 5.0,
    progress: Progress | None = None,
) -> ServiceState:
    """Poll until stable; a progress line each poll; StabilityTimeout with the last state at the deadline."""
    target = task_definition.rsplit("/", 1)[-1] if task_definition else "its current revision"
    awaited = f"{service} stable on {target}" + (f" with desired={desired_count}" if desired_count is not None else "")

    awaited_deployment: list[str] = []  # the id of the PRIMARY deployment on task_definition, once seen

    def poll() -> ServiceState:
        answer = describe_service(ecs, cluster, service)
        try:
            state = assess(answer, task_definition, desired_count)
            if task_definition is not None:
                _require_still_primary(answer, task_definition, awaited_deployment)
        except DeploymentFailed as failed:
            why = stopped_reasons(ecs, cluster, service, task_definition) if task_definition else ""
            raise DeploymentFailed(f"{failed}\n{why}" if why else str(failed)) from None
        return state

    def report(retry_state: RetryCallState) -> None:
        if progress and retry_state.outcome and not retry_state.outcome.failed:
            elapsed = retry_state.seconds_since_start or 0.0
            progress(f"waiting {elapsed:.0f}/{deadline_s:.0f}s for {awaited}; now {retry_state.outcome.result().summary}")

    retrying = Retrying(
        stop=stop_before_delay(deadline_s),
        wait=wait_fixed(poll_s),
        retry=retry_if_result(lambda state: not state.stable),
        before_sleep=report,
        retry_error_callback=lambda retry_state: retry_state.outcome.result(),
        reraise=True,
    )
    state: ServiceState = retrying(poll)
    if not state.stable:
        raise StabilityTimeout(f"{awaited}: not reached within {deadline_s:.0f}s; last seen {state.summary}\n"
                               f"{recent_events(state.service)}")
    if progress:
        progress(f"{awaited}: reached ({state.summary})")
    return state


def _require_still_primary(service: dict[str, Any], task_definition: str, awaited: list[str]) -> None:
    """Remember the awaited PRIMARY deployment; raise DeploymentFailed once another one replaced it."""
    primary = next((d for d in service.get("deployments", []) if d.get("status") == "PRIMARY"), {})
    if primary.get("taskDefinition") == task_definition:
        awaited[:] = [primary.get("id", "")]
    elif awaited:  # it was PRIMARY on task_definition, and no longer is
        raise DeploymentFailed(
            f"{service['serviceName']}: deployment {awaited[0]} of {task_definition} is no longer PRIMARY;"
            f" {primary.get('id')} on {primary.get('taskDefinition')} replaced it (a circuit-breaker rollback,"
            f" or another deploy)\n{recent_events(service)}")
