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
