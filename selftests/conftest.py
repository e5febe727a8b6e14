"""Shared fixtures of the selftests: a throwaway gate project for pytester runs."""

from __future__ import annotations

import textwrap

import pytest

BASE_PROFILE = """
[target]
name = "unit"
api_url = "http://127.0.0.1:9"
[aws]
region = "ap-southeast-2"
{aws}
[masking]
preload_secrets = false
[lock]
enabled = false
"""


@pytest.fixture
def gate_project(pytester: pytest.Pytester):
    """A pytester directory set up like the gate repo; returns a function to add tests and profiles."""
    pytester.makeini(
        """
        [pytest]
        filot_gate = true
        addopts = --strict-markers -p no:cacheprovider
        """
    )

    def make(profile_extra: str = "", aws: str = "", **test_files: str) -> pytest.Pytester:
        """Write profiles/local.toml (base + extra tables; ``aws`` adds keys to [aws]) and test files."""
        (pytester.path / "profiles").mkdir(exist_ok=True)
        (pytester.path / "profiles" / "local.toml").write_text(
            BASE_PROFILE.format(aws=textwrap.dedent(aws)) + textwrap.dedent(profile_extra)
        )
        if test_files:
            pytester.makepyfile(**{name: textwrap.dedent(src) for name, src in test_files.items()})
        return pytester

    return make


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules that run for minutes first, the longest first: each holds one private sandbox (or GPU
    proof runs) for its whole run, so ``--dist loadfile`` starts them together on separate workers and the
    short modules fill the workers after them, instead of a long module starting last and running alone."""
    items.sort(key=lambda item: -MODULE_SECONDS.get(item.path.name, 0))  # stable: the rest keep their order


#: Seconds each long module took in ``make test`` (4 workers, 2026-12-08); only the order matters.
MODULE_SECONDS = {"test_faults_e2e.py": 504, "test_faults_infra.py": 484, "test_faults_preflight.py": 426,
                  "test_faults.py": 387, "test_faults_gpu.py": 261, "test_reliability.py": 226,
                  "test_gate_on_sandbox.py": 191, "test_gpu_proof.py": 106, "test_truth_bridge.py": 78,
                  "test_plugin_rollback.py": 62, "test_plugin_order.py": 60}
