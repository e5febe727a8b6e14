"""The sandbox's secret values: generated on first start, kept in the state directory (mode 0600),
never committed, and loaded into the emulated Secrets Manager from the secrets manifest.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from sandbox.config import SandboxConfig

FILE_NAME = "credentials.json"


def load_or_create(config: SandboxConfig) -> dict[str, str]:
    """Random credentials for this sandbox, created once and reused across restarts; a state directory
    made before a credential existed gets that one added."""
    path = config.home / FILE_NAME
    if path.exists():
        values = json.loads(path.read_text())
        missing = {k: v for k, v in _new_credentials().items() if k not in values}
        if missing:
            values.update(missing)
            _write(path, values)
        return values
    config.home.mkdir(parents=True, exist_ok=True)
    values = _new_credentials()
    _write(path, values)
    return values


def _new_credentials() -> dict[str, str]:
    return {
        "JWT_SECRET": secrets.token_urlsafe(48),
        "SESSION_SECRET": secrets.token_urlsafe(48),
        "SERVICE_INTERNAL_KEY": secrets.token_urlsafe(40),
        "REDIS_PASSWORD": secrets.token_urlsafe(24),
        "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
        "CF_R2_ACCESS_KEY_ID": "AKSANDBOX" + secrets.token_hex(8).upper(),
        "CF_R2_SECRET_ACCESS_KEY": secrets.token_urlsafe(40),
        "CF_ACCOUNT_ID": secrets.token_hex(16),
        "BULI2_API_KEY": secrets.token_urlsafe(32),
        "BULI2_SIGNATURE_SECRET": secrets.token_urlsafe(48),
        "STACK_PROJECT_ID": "sandbox-" + secrets.token_hex(6),
        "STACK_SECRET_SERVER_KEY": secrets.token_urlsafe(40),
        "STACK_PUBLISHABLE_CLIENT_KEY": secrets.token_urlsafe(24),
        "EPR_REDIS_TOKEN": secrets.token_urlsafe(32),
        # the dev server checks no key, but FiLot sends one, as it does to Temporal Cloud
        "TEMPORAL_API_KEY": secrets.token_urlsafe(40),
    }


def _write(path: Path, values: dict[str, str]) -> None:
    """Replace the file, readable by its owner only."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(values, out, indent=2)
    tmp.replace(path)


def environment_values(config: SandboxConfig, creds: dict[str, str]) -> dict[str, str]:
    """Every variable a FiLot secret holds, as this sandbox's real endpoints and credentials."""
    database_url = f"postgresql://filot:{creds['POSTGRES_PASSWORD']}@{config.host}:{config.postgres_port}/filot"
    temporal = {"TEMPORAL_ENDPOINT": config.temporal_endpoint, "TEMPORAL_NAMESPACE": config.temporal_namespace}
    return {
        **(temporal if config.temporal else {}),
        **{k: v for k, v in creds.items() if k != "POSTGRES_PASSWORD"},
        "DATABASE_URL": database_url,
        "REDIS_URL": f"rediss://:{creds['REDIS_PASSWORD']}@{config.host}:{config.redis_port}/0",
        "CF_R2_BUCKET_NAME": "filot-documents",
        "CF_R2_ENDPOINT": config.aws_endpoint_url,
        "BULI2_API_URL": config.buli2_url,
        "BULI2_CALLBACK_URL": f"{config.api_url}/internal/reviews",
        "AWS_ACCOUNT_ID": config.account_id,
        # EPR shares the PostgreSQL cluster; its Upstash cache is the REST API in front of the sandbox's Redis
        "EPR_DATABASE_URL": database_url,
        "EPR_REDIS_URL": config.epr_redis_url,
    }


def secret_values(manifest_path: Path, env: dict[str, str]) -> dict[str, str | dict[str, str]]:
    """Secret id -> value, shaped by the secrets manifest (string or JSON object of its keys)."""
    manifest = json.loads(manifest_path.read_text())
    out: dict[str, str | dict[str, str]] = {}
    for secret in manifest["secrets"]:
        keys = [k["name"] for k in secret["keys"] if k["name"] in env]
        if len(keys) != len(secret["keys"]):
            continue  # an optional integration (Temporal) this sandbox does not run
        out[secret["id"]] = env[keys[0]] if secret["format"] == "string" else {k: env[k] for k in keys}
    return out
