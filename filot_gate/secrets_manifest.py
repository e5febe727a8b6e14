"""The secrets manifest (``production_secrets_required.json``, seed 003) and its validation rules.

Each secret under ``filot/production/`` is either a plain string (one key: the environment variable it
becomes) or a JSON object with named keys. Each key carries rules from a small vocabulary:
``minLength``, ``notKnownDefault``, ``scheme``, ``url``, ``pattern``. Problems are reported by key name
and rule, never with the value, so that they can go into any report. A key marked ``"masked": false``
is configuration kept beside the secrets (an account id, an endpoint URL): the gate shows it in its
reports, so that a rollback plan's ARNs and an endpoint stay readable; every other value is masked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit

RULES = ("minLength", "notKnownDefault", "scheme", "url", "pattern")
FORMATS = ("string", "json")
#: A Secrets Manager ARN: ...:secret:<name>[-<6 random chars>][:<json-key>:<version-stage>:<version-id>]
_ARN = re.compile(r"^(?P<arn>arn:aws[a-z-]*:secretsmanager:[^:]*:[0-9]{12}:secret:(?P<name>[^:]+))"
                  r"(?::(?P<key>[^:]*):[^:]*:[^:]*)?$")


def secret_arn(value_from: str) -> str | None:
    """The secret's own ARN in a Secrets Manager ``valueFrom`` (without ``:json-key:stage:version``), else None."""
    match = _ARN.match(value_from)
    return match["arn"] if match else None


class SecretsManifestError(ValueError):
    """The manifest file itself is malformed."""


@dataclass(frozen=True)
class KeySpec:
    """One key of a secret: the environment variable name and its rules."""

    name: str
    required: bool
    rules: Mapping[str, Any]
    masked: bool = True


@dataclass(frozen=True)
class SecretSpec:
    """One secret of the manifest."""

    id: str
    format: str
    required: bool
    used_by: tuple[str, ...]
    keys: tuple[KeySpec, ...]

    @property
    def unmasked_keys(self) -> frozenset[str]:
        return frozenset(key.name for key in self.keys if not key.masked)

    def key(self, name: str) -> KeySpec:
        for key in self.keys:
            if key.name == name:
                return key
        raise KeyError(f"secret {self.id} has no key {name}")

    def decode(self, secret_string: str) -> dict[str, str]:
        """The key -> value map of a stored SecretString (a plain string secret maps its one key)."""
        if self.format == "string":
            return {self.keys[0].name: secret_string}
        try:
            data = json.loads(secret_string)
        except json.JSONDecodeError:
            raise ValueError(f"secret {self.id}: expected a JSON object, got text that is not JSON") from None
        if not isinstance(data, dict):
            raise ValueError(f"secret {self.id}: expected a JSON object, got {type(data).__name__}")
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}

    def encode(self, value: str | Mapping[str, str]) -> str:
        """The SecretString to store for ``value`` (a str for "string" secrets, a mapping for "json")."""
        if self.format == "string":
            if not isinstance(value, str):
                raise ValueError(f"secret {self.id} is a plain string secret, got {type(value).__name__}")
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"secret {self.id} is a JSON secret with keys {', '.join(k.name for k in self.keys)}, "
                             f"got {type(value).__name__}")
        return json.dumps(dict(value))


@dataclass(frozen=True)
class SecretsManifest:
    """Every secret FiLot needs, and the values that count as "left at a default"."""

    secrets: tuple[SecretSpec, ...]
    known_defaults: frozenset[str]

    def get(self, secret_id: str) -> SecretSpec:
        for spec in self.secrets:
            if spec.id == secret_id:
                return spec
        raise KeyError(f"{secret_id} is not in the secrets manifest")

    def used_by(self, service: str) -> tuple[SecretSpec, ...]:
        return tuple(s for s in self.secrets if service in s.used_by)

    def resolve_ref(self, value_from: str) -> tuple[SecretSpec, str]:
        """The secret and key a task definition's ``valueFrom`` names.

        ``valueFrom`` is a Secrets Manager ARN, full (with the 6-character suffix) or partial, with an
        optional JSON key. A string secret's key is its one key.
        """
        match = _ARN.match(value_from)
        if not match:
            raise ValueError(f"valueFrom {value_from!r} is not a Secrets Manager ARN")
        name, json_key = match["name"], match["key"]
        for spec in self.secrets:
            if name == spec.id or re.fullmatch(re.escape(spec.id) + r"-[A-Za-z0-9]{6}", name):
                if spec.format == "json" and not json_key:
                    raise ValueError(f"valueFrom {value_from!r} names JSON secret {spec.id} without a JSON key")
                key = json_key or spec.keys[0].name
                try:
                    spec.key(key)
                except KeyError:
                    raise ValueError(f"valueFrom {value_from!r} names key {key} that secret {spec.id} does not have"
                                     f" (expected one of {', '.join(k.name for k in spec.keys)})") from None
                return spec, key
        raise ValueError(f"valueFrom {value_from!r} names a secret that is not in the secrets manifest")

    def check_key(self, key: KeySpec, value: str) -> list[str]:
        """Problems of one value against its key's rules, without the value."""
        if not value:
            return [f"{key.name} is empty"]
        problems = []
        rules = key.rules
        if "minLength" in rules and len(value) < rules["minLength"]:
            problems.append(f"{key.name} is shorter than {rules['minLength']} characters")
        if rules.get("notKnownDefault") and value.strip().lower() in self.known_defaults:
            problems.append(f"{key.name} is a known default value")
        if "scheme" in rules:
            scheme = urlsplit(value).scheme
            if scheme not in rules["scheme"]:
                problems.append(f"{key.name} must use scheme {' or '.join(rules['scheme'])}://, "
                                f"got {scheme + '://' if scheme else 'no scheme'}")
        if rules.get("url"):
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                problems.append(f"{key.name} is not an http(s) URL with a host")
        if "pattern" in rules and not re.search(rules["pattern"], value):
            problems.append(f"{key.name} does not match {rules['pattern']}")
        return problems

    def check(self, spec: SecretSpec, values: Mapping[str, str]) -> list[str]:
        """Problems of a secret's decoded key -> value map (missing required keys, rule violations)."""
        problems = []
        for key in spec.keys:
            if key.name not in values:
                if key.required:
                    problems.append(f"{key.name} is missing from {spec.id}")
                continue
            problems.extend(self.check_key(key, values[key.name]))
        return problems


def parse(data: Any, source: str) -> SecretsManifest:
    """Build the manifest from its JSON document, refusing anything outside the schema."""
    if not isinstance(data, dict) or not isinstance(data.get("secrets"), list):
        raise SecretsManifestError(f"{source}: expected an object with a 'secrets' list")
    secrets = tuple(_parse_secret(item, f"{source}: secrets[{i}]") for i, item in enumerate(data["secrets"]))
    ids = [s.id for s in secrets]
    if len(set(ids)) != len(ids):
        raise SecretsManifestError(f"{source}: duplicate secret ids")
    defaults = data.get("knownDefaults", [])
    if not isinstance(defaults, list) or not all(isinstance(d, str) for d in defaults):
        raise SecretsManifestError(f"{source}: 'knownDefaults' must be a list of strings")
    return SecretsManifest(secrets, frozenset(d.strip().lower() for d in defaults))


def _parse_secret(item: Any, where: str) -> SecretSpec:
    try:
        spec = SecretSpec(
            id=item["id"],
            format=item["format"],
            required=bool(item["required"]),
            used_by=tuple(item["usedBy"]),
            keys=tuple(KeySpec(k["name"], bool(k["required"]), dict(k.get("rules", {})), k.get("masked", True))
                       for k in item["keys"]),
        )
    except (KeyError, TypeError) as exc:
        raise SecretsManifestError(f"{where}: missing or malformed field {exc}") from None
    if spec.format not in FORMATS:
        raise SecretsManifestError(f"{where} ({spec.id}): format must be one of {FORMATS}, got {spec.format!r}")
    if spec.format == "string" and len(spec.keys) != 1:
        raise SecretsManifestError(f"{where} ({spec.id}): a string secret has exactly one key")
    for key in spec.keys:
        if not isinstance(key.masked, bool):
            raise SecretsManifestError(f"{where} ({spec.id}.{key.name}): masked must be true or false, got {key.masked!r}")
        unknown = set(key.rules) - set(RULES)
        if unknown:
            raise SecretsManifestError(f"{where} ({spec.id}.{key.name}): unknown rules {sorted(unknown)}; known: {RULES}")
    return spec
