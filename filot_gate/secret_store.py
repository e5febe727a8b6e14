"""Read FiLot's secrets by their manifest id, telling "absent" apart from "could not look".

``production_secrets_required.json`` names secrets by id (``filot/production/jwt-secret``); a profile
may keep them under another prefix (``aws.secrets_prefix``). A secret that does not exist, or is
scheduled for deletion, is a finding (the deployment is wrong); any other error means the gate could
not observe and propagates. Every value read is registered with the redactor before it is returned.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from filot_contract import aws_names

if TYPE_CHECKING:
    from filot_gate.target import Target

#: Error codes of Secrets Manager that mean "there is no usable secret by this name".
ABSENT_CODES = ("ResourceNotFoundException", "InvalidRequestException")


def secret_id_on_target(target: "Target", manifest_id: str) -> str:
    """The manifest's id under the target's prefix (the same id when the profile keeps the default)."""
    default = aws_names.SECRETS_PREFIX + "/"
    if manifest_id.startswith(default):
        return f"{target.secrets_prefix}/{manifest_id[len(default):]}"
    return manifest_id


def read_secret_string(target: "Target", manifest_id: str) -> str | None:
    """The SecretString of one secret, or None when the secret does not exist (or is being deleted)."""
    from botocore.exceptions import ClientError

    try:
        value = target.client("secretsmanager").get_secret_value(SecretId=secret_id_on_target(target, manifest_id))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ABSENT_CODES:
            return None
        raise
    secret_string = value.get("SecretString")
    if secret_string is None:
        return None
    target.redactor.register(secret_string)
    try:
        target.redactor.register(json.loads(secret_string))  # each value of a JSON secret, too
    except ValueError:
        pass  # a plain string secret: registered above
    return secret_string
