"""An AWS call as data: planned, printed as the exact CLI command (rollback mode ``plan``), executed."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any, Mapping

from botocore import xform_name


def aws_client_config() -> Any:
    """Every boto3 client of the gate and the deploy CLI: standard retries and finite timeouts (the AWS
    CLI's conventions)."""
    from botocore.config import Config

    return Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


@dataclass(frozen=True)
class AwsCall:
    """One API call: ``service`` as boto3 names it ("ecs"), ``operation`` as AWS does ("UpdateService")."""

    service: str
    operation: str
    params: Mapping[str, Any] = field(default_factory=dict)
    region: str | None = None

    def cli(self) -> str:
        """The equivalent AWS CLI command, e.g. ``aws ecs update-service --cluster c --service s ...``."""
        words = ["aws", self.service, xform_name(self.operation, "-")]
        for name, value in self.params.items():
            words.append("--" + xform_name(name, "-"))
            words.append(value if isinstance(value, str) else json.dumps(value))
        if self.region:
            words += ["--region", self.region]
        return " ".join(shlex.quote(str(w)) for w in words)

    def __str__(self) -> str:
        return self.cli()


def execute(client: Any, calls: list[AwsCall]) -> list[dict[str, Any]]:
    """Run ``calls`` in order with ``client`` (a boto3 client of their service); their responses.

    Stops at the first failing call (botocore raises), so a later call never runs on top of a failed one.
    """
    service = client.meta.service_model.service_name
    responses = []
    for call in calls:
        if call.service != service:
            raise ValueError(f"{call.cli()} is a {call.service} call; execute() was given a {service} client")
        response = getattr(client, xform_name(call.operation))(**call.params)
        response.pop("ResponseMetadata", None)
        responses.append(response)
    return responses
