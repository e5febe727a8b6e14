"""The gate profile format: every section and key a profile (``profiles/<target>.toml``) may hold.

This module is the documentation of the format: each key has its type and one line saying what it is.
``settings.load_profile`` refuses a profile with an unknown section or key, or a value of the wrong type,
naming the file, the ``[section] key``, what was expected and what was found. A profile key that an
option or environment variable may override (``settings.SPECS``) is checked here for its type; a name
from a list another module owns (rollback mode, GPU rollback strategy, Redis provider) is checked when
the setting is resolved, the same way for all three sources. Every key is optional; defaults live with
the code that reads the key (``Profile.get(key, default)``).
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping


@dataclass(frozen=True)
class Kind:
    """What a value must be: ``expected`` in words, ``problem`` the "got ..." of a value that is not."""

    expected: str | Callable[[], str]
    problem: Callable[[Any], str | None]

    def describe(self) -> str:
        return self.expected() if callable(self.expected) else self.expected


@dataclass(frozen=True)
class Key:
    """One profile key: its kind, one line of documentation, and whether its value may be shown."""

    kind: Kind
    doc: str
    secret: bool = False


@dataclass(frozen=True)
class Section:
    """One ``[table]`` of a profile: what it is about and its keys."""

    doc: str
    keys: Mapping[str, Key]


# --- kinds -----------------------------------------------------------------------------------------

def type_name(value: Any) -> str:
    """The TOML type of a parsed value, in words."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return "a date or time"


def shown(value: Any) -> str:
    """A value as the profile wrote it (strings quoted), shortened."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list):
        text = "[" + ", ".join(shown(v) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{...}"
    else:
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def found(value: Any) -> str:
    return f"{shown(value)} ({type_name(value)})"


def _kind(expected: str | Callable[[], str], accepts: Callable[[Any], bool]) -> Kind:
    return Kind(expected, lambda value: None if accepts(value) else found(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _is_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


BOOL = _kind("true or false", lambda v: isinstance(v, bool))
TEXT = _kind("a non-empty string", lambda v: isinstance(v, str) and v.strip() != "")
SECONDS = _kind("a positive number of seconds", lambda v: _is_number(v) and math.isfinite(v) and v > 0)
COUNT = _kind("a positive whole number", lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0)
PERCENT = _kind("a whole number from 1 to 100", lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 100)
TEXTS = _kind("a list of strings", _is_strings)
PATTERNS = _kind("a list of regular expressions (Python re syntax)", lambda v: _is_strings(v) and all(map(_compiles, v)))
PHRASES = _kind("a non-empty list of strings", lambda v: _is_strings(v) and len(v) > 0)
COMMAND = _kind("a command (a string, or a list of strings)",
                lambda v: (isinstance(v, str) and v.strip() != "") or (_is_strings(v) and len(v) > 0))
KEY_PAIR = _kind("a list of two strings [access key id, secret access key]",
                 lambda v: _is_strings(v) and len(v) == 2)


def one_of(*choices: str) -> Kind:
    return _kind("one of " + ", ".join(choices), lambda v: v in choices)


def named_elsewhere(choices: Callable[[], Iterable[str]]) -> Kind:
    """A name from a list another module owns: a string here; which name, when the setting is resolved."""
    return _kind(lambda: "one of " + ", ".join(choices()), lambda v: isinstance(v, str))


def _gate_names_problem(value: Any) -> str | None:
    from filot_gate.gates import GATES

    if not _is_strings(value):
        return found(value)
    unknown = [name for name in value if name not in GATES]
    if not unknown:
        return None
    return ", ".join(f"unknown gate {name!r}{did_you_mean(name, GATES)}" for name in unknown)


def _gate_names() -> str:
    from filot_gate.gates import GATES

    return f"a list of gate names ({', '.join(GATES)})"


GATE_NAMES = Kind(_gate_names, _gate_names_problem)


def _rollback_modes() -> Iterable[str]:
    from filot_gate.settings import ROLLBACK_MODES

    return ROLLBACK_MODES


def _gpu_strategies() -> Iterable[str]:
    from filot_gate.deploy.rollback import STRATEGIES

    return STRATEGIES


def _backup_methods() -> Iterable[str]:
    from filot_gate.db_backups import BACKUP_METHODS

    return BACKUP_METHODS


def _redis_providers() -> Iterable[str]:
    from filot_gate.redis_config import REDIS_PROVIDERS

    return REDIS_PROVIDERS


# --- the format ------------------------------------------------------------------------------------

SCHEMA: Mapping[str, Section] = {
    "target": Section("What is gated and how to reach it", {
        "name": Key(TEXT, "the target's name in the report (default: the file's name)"),
        "environment": Key(TEXT, "the environment the run lock and the report name (default: the target's name)"),
        "api_url": Key(TEXT, "the FiLot API base URL (env FILOT_API_URL)"),
        "redis_url": Key(TEXT, "Redis URL to use instead of the REDIS_URL of the redis secret", secret=True),
        "redis_ca_file": Key(TEXT, "CA bundle for a rediss:// URL and EPR's Upstash REST URL when their certificates"
                                   " are not public, relative to the repository root"),
        "database_url": Key(TEXT, "PostgreSQL URL to use instead of the database-url secret", secret=True),
        "check": Key(COMMAND, "command whose exit code says if the target runs (0 healthy, 3 not running)"),
        "start": Key(COMMAND, "command that starts the target when check says it is not running"),
        "stop": Key(COMMAND, "command that stops a target the gate started"),
        "keep_running": Key(BOOL, "leave a target the gate started running (--keep-target, env KEEP_SANDBOX)"),
    }),
    "aws": Section("The AWS account and how to reach it", {
        "region": Key(TEXT, "AWS region of the deployment (env AWS_REGION)"),
        "endpoint_url": Key(TEXT, "AWS endpoint of an emulator (env AWS_ENDPOINT_URL)"),
        "profile": Key(TEXT, "AWS credentials profile (env AWS_PROFILE)"),
        "secrets_prefix": Key(TEXT, "Secrets Manager name prefix of the FiLot secrets"),
        "static_credentials": Key(KEY_PAIR, "an emulator's fixed keys instead of the AWS default chain", secret=True),
        "role_arn": Key(TEXT, "an IAM role the gate assumes with those credentials (as an AWS CLI profile's"
                              " role_arn): what it reads and rolls back with"),
    }),
    "redis": Section("Who runs FiLot's Redis", {
        "provider": Key(named_elsewhere(_redis_providers),
                        "what CONFIG GET can show: self-managed or upstash (env FILOT_GATE_REDIS_PROVIDER)"),
        "max_memory_used_percent": Key(PERCENT, "the share of maxmemory Redis may already use when a deploy starts"),
    }),
    "database": Section("FiLot's PostgreSQL", {
        "migrations_dir": Key(TEXT, "the release's migrations, relative to the repository root"),
        "spare_connections": Key(COUNT, "connections kept free beyond the services' pools at a deploy's peak"),
        "pooled": Key(BOOL, "DATABASE_URL goes through a transaction-mode pooler (PgBouncer, Neon's -pooler host)"),
        "backups": Key(named_elsewhere(_backup_methods),
                       "how the database is backed up: wal-archive (self-managed, RDS: the server shows it) or neon"),
        "max_waiting_wal_segments": Key(COUNT, "finished WAL segments that may wait for the archiver (wal-archive)"),
    }),
    "gpu": Section("The OCR worker's GPU", {
        "require_cuda": Key(BOOL, "the worker must run on CUDA; false accepts its logged CPU fallback"),
        "instance_types": Key(TEXT, "fnmatch pattern of the worker's ECS instance type (ecs.instance-type)"),
        "gpu_log_phrases": Key(PHRASES, "worker log phrases that show it found the GPU"),
        "cpu_fallback_log_phrases": Key(PHRASES, "worker log phrases that show it fell back to the CPU"),
    }),
    "gates": Section("Which gates must pass", {
        "not_required": Key(GATE_NAMES, "gates that pass when every one of their tests was skipped"),
    }),
    "rollback": Section("What a no-go run does", {
        "mode": Key(named_elsewhere(_rollback_modes), "off, plan or auto (--rollback, env FILOT_GATE_ROLLBACK)"),
        "gpu_worker": Key(named_elsewhere(_gpu_strategies),
                          "how the GPU worker is rolled back (env FILOT_GATE_GPU_ROLLBACK)"),
        "on_inconclusive": Key(BOOL, "also roll back an inconclusive run (env FILOT_GATE_ROLLBACK_ON_INCONCLUSIVE)"),
    }),
    "deploy": Section("The deployment under test", {
        "record": Key(TEXT, "the deploy record file (--deploy-record, env FILOT_GATE_DEPLOY_RECORD)"),
    }),
    "deadlines": Section("How long the gate waits, in seconds", {
        "run_s": Key(SECONDS, "the whole run (--gate-deadline, env FILOT_GATE_DEADLINE)"),
        "start_s": Key(SECONDS, "the target's start command until check says healthy"),
        "stable_s": Key(SECONDS, "an ECS service to be stable after a rollback"),
        "job_s": Key(SECONDS, "one OCR job to be answered"),
        "heartbeat_max_age_s": Key(SECONDS, "the oldest worker heartbeat that counts as live"),
        "metric_max_age_s": Key(SECONDS, "the oldest datapoint of a gauge FiLot publishes every minute that"
                                         " counts as arriving (CloudWatch shows a datapoint a minute or two late)"),
        "escalation_s": Key(SECONDS, "BULI2 to accept a manual-review escalation"),
        "logs_s": Key(SECONDS, "a log line to reach CloudWatch"),
        "audit_event_s": Key(SECONDS, "an audit event published to the EPR audit topic to be consumed"),
        "workflow_s": Key(SECONDS, "a Temporal workflow run started by the gate to complete"),
        "query_s": Key(SECONDS, "one SQL statement of the gate (its connections' statement_timeout)"),
    }),
    "e2e": Section("The end-to-end checks", {
        "max_documents": Key(COUNT, "documents one run may create through the API"),
        "rate_limit_per_minute": Key(COUNT, "the per-minute limit per client the API must enforce on each"
                                             " sensitive route (uploads, admin re-scoring)"),
        "max_upload_bytes": Key(COUNT, "the largest upload the API must accept"),
        "cors_allowed_origins": Key(TEXTS, "origins whose browser uploads the API must allow (empty: none checked)"),
        "review_decision": Key(one_of("approved", "rejected"), "the decision of the gate's own BULI2 callback"),
        "buli2_callback_s": Key(SECONDS, "wait this long for BULI2's own callback (unset: people decide)"),
    }),
    "load": Section("The load check: the expected traffic (seed 002 section 8)", {
        "users": Key(COUNT, "users of the API at once, each on its own connection (the expected peak)"),
        "requests_per_user": Key(COUNT, "requests each user sends: status polls and /health, read-only"),
    }),
    "epr": Section("The Entity & Permissions Core (seed 004)", {
        "api_url": Key(TEXT, "the EPR API's load balancer URL, where /healthz answers (env FILOT_EPR_API_URL)"),
    }),
    "temporal": Section("FiLot's Temporal workflows", {
        "enabled": Key(BOOL, "the backend uses Temporal (TEMPORAL_DISABLED=false)"),
        "tls": Key(BOOL, "TLS to TEMPORAL_ENDPOINT (unset: when an API key is given, as Temporal Cloud needs)"),
    }),
    "lock": Section("One run per environment", {
        "enabled": Key(BOOL, "take the Redis run lock"),
        "ttl_s": Key(COUNT, "seconds the lock outlives a run that died"),
    }),
    "masking": Section("Secrets kept out of output", {
        "preload_secrets": Key(BOOL, "read every FiLot secret at start so that its value is masked everywhere"),
    }),
    "logs": Section("CloudWatch Logs", {
        "retention_days": Key(COUNT, "the retention every FiLot log group must have"),
        "scan_lines": Key(COUNT, "lines per container stream read when looking for secret values and error lines"),
        "ignored_errors": Key(PATTERNS, "error lines known to be harmless (searched in each line): listed, not failed"),
    }),
    "reports": Section("Where the run writes its reports", {
        "dir": Key(TEXT, "the reports folder (--gate-reports, env FILOT_GATE_REPORTS)"),
    }),
}


def did_you_mean(name: str, known: Iterable[str], shape: str = "{}") -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {shape.format(close[0])}?)" if close else ""


def problems(data: Mapping[str, Any]) -> list[str]:
    """Every mistake in a parsed profile, one line each: ``[section] key: expected ..., got ...``."""
    lines: list[str] = []
    sections = ", ".join(f"[{name}]" for name in SCHEMA)
    for name, table in data.items():
        section = SCHEMA.get(name)
        if section is None and isinstance(table, dict):
            lines.append(f"[{name}]: unknown section{did_you_mean(name, SCHEMA, '[{}]')}; known sections: {sections}")
            continue
        if section is None:
            owners = [f"[{owner}] {name}" for owner, known in SCHEMA.items() if name in known.keys]
            hint = f" (did you mean {' or '.join(owners)}?)" if owners else ""
            lines.append(f"{name}: a key outside any section{hint}; known sections: {sections}")
            continue
        if not isinstance(table, dict):
            lines.append(f"[{name}]: expected a table, got {found(table)}")
            continue
        for key_name, value in table.items():
            key = section.keys.get(key_name)
            if key is None:
                lines.append(f"[{name}] {key_name}: unknown key{did_you_mean(key_name, section.keys)};"
                                      f" known keys: {', '.join(section.keys)}")
                continue
            got = key.kind.problem(value)
            if got is not None:
                if key.secret:
                    got = f"{type_name(value)} (value not shown)"
                lines.append(f"[{name}] {key_name}: expected {key.kind.describe()}, got {got}")
    return lines


def keys() -> list[str]:
    """Every key as ``section.key`` (the form ``Profile.get`` takes)."""
    return [f"{section}.{key}" for section, table in SCHEMA.items() for key in table.keys]
