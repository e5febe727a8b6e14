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
    """The ``sandbox`` modules first, the longest first: each holds one private sandbox for minutes of
    faults, so ``--dist loadfile`` starts them together on separate workers and the short modules fill
    the workers after them, instead of a long module starting last and running alone."""
    def minutes_first(item: pytest.Item) -> tuple[bool, int]:
        return item.get_closest_marker("sandbox") is None, -LONGEST_FIRST.get(item.path.name, 0)

    items.sort(key=minutes_first)  # stable: each module's tests keep their order


#: Sandbox modules that run for minutes, by how many: the rest of the ``sandbox`` modules follow them.
LONGEST_FIRST = {"test_faults_e2e.py": 6, "test_faults.py": 5, "test_faults_infra.py": 4, "test_faults_preflight.py": 3}
