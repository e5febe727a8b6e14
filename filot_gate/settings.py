"""Gate settings: a profile (TOML) plus options and environment variables, each value with its source.

Precedence is option > environment variable > profile > default. Every error is a
``pytest.UsageError`` that names the setting and the file, never a traceback. The profile format
(sections, keys, types) is ``filot_gate.profile_schema``; a profile is checked against it when loaded.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import pytest

from filot_gate import profile_schema
from filot_gate.outputs import DEFAULT_REPORTS_DIR

ROLLBACK_MODES = ("off", "plan", "auto")


def option_flag(dest: str) -> str:
    """The command-line flag of a gate option's dest (``filot_gate_reports`` -> ``--gate-reports``)."""
    return "--" + dest.removeprefix("filot_").replace("_", "-")


@dataclass(frozen=True)
class Setting:
    """One resolved value and where it came from ("option --x", "env X", "profile <file>", "default")."""

    value: Any
    source: str

    @property
    def given_by_caller(self) -> bool:
        """Set on this run's command line or in its environment, not by a profile or a default."""
        return self.source.startswith(("option ", "env "))


@dataclass(frozen=True)
class SettingSpec:
    """How to find one setting: its option dest, environment variable, profile key and default."""

    name: str
    option: str | None
    env: str | None
    profile_key: str | None
    default: Any
    parse: Callable[[str, Any], Any] = lambda name, v: v


def parse_rollback(name: str, value: Any) -> str:
    if value not in ROLLBACK_MODES:
        raise ValueError(f"expected one of {', '.join(ROLLBACK_MODES)}, got {value!r}")
    return value


def parse_positive_seconds(name: str, value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number of seconds, got {value!r}") from None
    if seconds <= 0:
        raise ValueError(f"expected a positive number of seconds, got {value!r}")
    return seconds


def parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def parse_gpu_strategy(name: str, value: Any) -> str:
    from filot_gate.deploy.rollback import STRATEGIES  # the deploy library owns the strategies

    if value not in STRATEGIES:
        raise ValueError(f"expected one of {', '.join(STRATEGIES)}, got {value!r}")
    return value


def parse_redis_provider(name: str, value: Any) -> str:
    from filot_gate.redis_config import REDIS_PROVIDERS

    if value not in REDIS_PROVIDERS:
        raise ValueError(f"expected one of {', '.join(REDIS_PROVIDERS)}, got {value!r}")
    return value


#: Settings that options or environment variables may override. Everything else is profile-only.
SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("rollback", "filot_rollback", "FILOT_GATE_ROLLBACK", "rollback.mode", "plan", parse_rollback),
    SettingSpec("rollback_on_inconclusive", None, "FILOT_GATE_ROLLBACK_ON_INCONCLUSIVE",
                "rollback.on_inconclusive", False, parse_bool),
    SettingSpec("gpu_rollback", None, "FILOT_GATE_GPU_ROLLBACK", "rollback.gpu_worker",
                "previous-revision", parse_gpu_strategy),
    SettingSpec("deploy_record", "filot_deploy_record", "FILOT_GATE_DEPLOY_RECORD", "deploy.record", None),
    SettingSpec("gate_deadline", "filot_gate_deadline", "FILOT_GATE_DEADLINE", "deadlines.run_s", 1800.0,
                parse_positive_seconds),
    SettingSpec("keep_target", "filot_keep_target", "KEEP_SANDBOX", "target.keep_running", False, parse_bool),
    SettingSpec("reports_dir", "filot_gate_reports", "FILOT_GATE_REPORTS", "reports.dir", DEFAULT_REPORTS_DIR),
    SettingSpec("region", None, "AWS_REGION", "aws.region", None),
    SettingSpec("aws_endpoint_url", None, "AWS_ENDPOINT_URL", "aws.endpoint_url", None),
    SettingSpec("aws_profile", None, "AWS_PROFILE", "aws.profile", None),
    SettingSpec("api_url", None, "FILOT_API_URL", "target.api_url", None),
    SettingSpec("epr_api_url", None, "FILOT_EPR_API_URL", "epr.api_url", None),
    SettingSpec("redis_provider", None, "FILOT_GATE_REDIS_PROVIDER", "redis.provider", "self-managed",
                parse_redis_provider),
)


@dataclass(frozen=True)
class Profile:
    """A parsed profile file: its name, path and raw table."""

    name: str
    path: Path
    data: Mapping[str, Any]

    def get(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        return node


@dataclass(frozen=True)
class GateSettings:
    """Everything the gate was told: the profile plus the resolved overridable settings."""

    profile: Profile
    values: Mapping[str, Setting] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "values")
        if name in values:
            return values[name].value
        raise AttributeError(name)

    @property
    def target(self) -> str:
        return self.profile.name

    @property
    def environment(self) -> str:
        """The environment name the lock and the report use (profile ``target.environment``)."""
        return self.profile.get("target.environment", self.profile.name)

    def deploy_record_path(self, rootdir: Path) -> Path | None:
        """The deploy record's file (``deploy_record`` is relative to the rootdir), or None when unset."""
        value = self.values["deploy_record"].value
        return None if value is None else Path(rootdir, value)

    def section(self, dotted: str) -> Mapping[str, Any]:
        return self.profile.get(dotted, {}) or {}


def find_profile(target: str, profiles_dir: Path, source: str = "--target") -> Path:
    """A target is a profile name in ``profiles_dir`` or a path to a TOML file; ``source`` names where
    the caller got it (``--target``, ``env FILOT_GATE_TARGET``) in the errors."""
    candidate = Path(target)
    if candidate.suffix == ".toml" or os.sep in target:
        if candidate.is_dir():
            raise pytest.UsageError(f"{source}: {candidate} is a directory; expected a profile TOML file")
        if not candidate.is_file():
            raise pytest.UsageError(f"{source}: profile file {candidate} does not exist")
        return candidate
    path = profiles_dir / f"{target}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in profiles_dir.glob("*.toml"))
        raise pytest.UsageError(
            f"{source}: unknown target {target!r}: no profile {path}; known targets: {', '.join(known) or 'none'}"
        )
    return path


def load_profile(path: Path) -> Profile:
    """Read and check a profile: every section, key and value type (``profile_schema.SCHEMA``)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise pytest.UsageError(f"profile {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise pytest.UsageError(f"profile {path} cannot be read: {exc.strerror}") from None
    mistakes = profile_schema.problems(data)
    if mistakes:
        raise pytest.UsageError("\n".join(f"profile {path}: {mistake}" for mistake in mistakes))
    return Profile(name=data.get("target", {}).get("name", path.stem), path=path, data=data)


def resolve(
    profile: Profile,
    options: Mapping[str, Any],
    environ: Mapping[str, str],
) -> GateSettings:
    """Resolve every overridable setting with option > env > profile > default."""
    values: dict[str, Setting] = {}
    for spec in SPECS:
        raw, source = _first_given(spec, profile, options, environ)
        try:
            value = spec.parse(spec.name, raw) if raw is not None else None
        except ValueError as exc:
            raise pytest.UsageError(f"setting {spec.name} ({source}): {exc}") from None
        values[spec.name] = Setting(value, source)
    settings = GateSettings(profile=profile, values=values)
    _require(settings)
    return settings


def _first_given(
    spec: SettingSpec, profile: Profile, options: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[Any, str]:
    if spec.option and options.get(spec.option) is not None:
        return options[spec.option], f"option {option_flag(spec.option)}"
    if spec.env and environ.get(spec.env):
        return environ[spec.env], f"env {spec.env}"
    if spec.profile_key:
        value = profile.get(spec.profile_key)
        if value is not None:
            return value, f"profile {profile.path.name} [{spec.profile_key}]"
    return spec.default, "default"


def _require(settings: GateSettings) -> None:
    """Settings without which no gate can run, named with the file to fix."""
    for name, hint in (("region", "aws.region"), ("api_url", "target.api_url")):
        if settings.values[name].value is None:
            raise pytest.UsageError(
                f"missing required setting {name}: set [{hint}] in profile {settings.profile.path}"
                f" or the environment variable {next(s.env for s in SPECS if s.name == name)}"
            )
