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
    register_secret(target, manifest_id, secret_string)
    return secret_string


def register_secret(target: "Target", manifest_id: str, secret_string: str) -> None:
    """Tell the redactor every value of a secret, except the keys the manifest marks ``"masked": false``."""
    unmasked = _unmasked_keys().get(manifest_id, frozenset())
    try:
        values = json.loads(secret_string)
    except ValueError:
        values = None
    if isinstance(values, dict):
        target.redactor.register(secret_string, manifest_id)
        target.redactor.register({k: v for k, v in values.items() if k not in unmasked}, manifest_id)
    elif not unmasked:  # a plain string secret's one key
        target.redactor.register(secret_string, manifest_id)


def _unmasked_keys() -> dict[str, frozenset[str]]:
    """Per manifest id, the keys shown in reports; none when the manifest cannot be read (mask all)."""
    from filot_gate.manifests import ManifestError, load_secrets_manifest

    try:
        return {spec.id: spec.unmasked_keys for spec in load_secrets_manifest().secrets}
    except (ManifestError, OSError):
        return {}
