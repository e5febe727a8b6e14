"""Session fixtures of the gate: settings, the target's clients, the deploy record.

The plugin (``filot_gate.plugin``, registered through the ``pytest11`` entry point) orders the
gates, blocks, decides and rolls back; these fixtures give tests what an operator would use by hand.
Clients are built lazily, once per process, and closed at the end.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from filot_gate.plugin import run_key
from filot_gate.redis_config import REDIS_PROVIDERS, RedisProvider
from filot_gate.rollback import load_deploy_record
from filot_gate.settings import GateSettings
from filot_gate.synthetic import synthetic  # noqa: F401 - one session fixture for every gate that creates data
from filot_gate.target import Target

pytest.register_assert_rewrite("filot_gate.checks")


@pytest.fixture(scope="session")
def settings(pytestconfig: pytest.Config) -> GateSettings:
    return pytestconfig.stash[run_key].settings


@pytest.fixture(scope="session")
def run_id(pytestconfig: pytest.Config) -> str:
    return pytestconfig.stash[run_key].run_id


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config, settings: GateSettings) -> Target:
    return Target(settings, pytestconfig.stash[run_key].redactor, pytestconfig.rootpath)


@pytest.fixture(scope="session")
def redis_client(target: Target):
    client = target.redis()
    yield client
    client.close()


@pytest.fixture(scope="session")
def redis_provider(settings: GateSettings) -> RedisProvider:
    """Who runs FiLot's Redis (profile ``[redis] provider``): what its ``CONFIG GET`` can show."""
    return REDIS_PROVIDERS[settings.redis_provider]


@pytest.fixture(scope="session")
def db(target: Target) -> Iterator:
    with target.db() as conn:
        yield conn


@pytest.fixture(scope="session")
def api(target: Target) -> Iterator:
    with target.api() as client:
        yield client


@pytest.fixture(scope="session")
def ecs(target: Target):
    return target.client("ecs")


@pytest.fixture(scope="session")
def aws_account_id(target: Target) -> str:
    """The account the gate's AWS credentials belong to (``aws sts get-caller-identity``)."""
    return target.client("sts").get_caller_identity()["Account"]


@pytest.fixture(scope="session")
def deploy_record(pytestconfig: pytest.Config, settings: GateSettings) -> dict:
    path = settings.deploy_record_path(pytestconfig.rootpath)
    record = load_deploy_record(path)
    if record is None:
        pytest.fail(f"no deploy record at {path}: the deploy step writes one (python -m filot_gate.deploy deploy ...)")
    return record
