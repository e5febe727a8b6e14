"""The README's "Seed coverage" table and the gate agree: every test id the table names is a gate test
(a renamed check cannot leave a criterion pointing nowhere), and every gate test is in the table (no
check runs that no criterion asked for, and no criterion was forgotten when its check was added)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from selftests.sandbox_fixture import REPO


@pytest.fixture(scope="module")
def collected() -> set[str]:
    """Node ids of the gate's tests, as ``pytest --collect-only`` lists them (it starts no target)."""
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:logging", "tests"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    ids = {line.strip() for line in result.stdout.splitlines() if line.startswith("tests/") and "::" in line}
    assert ids, f"pytest --collect-only listed no gate test (exit {result.returncode}):\n{result.stdout[-2000:]}"
    return ids


@pytest.fixture(scope="module")
def table() -> list[str]:
    """The test ids of the README's seed coverage table, as written (``[<service>]`` stands for every parameter)."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Seed coverage\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [test for row in rows for test in re.findall(r"`(tests/[^`]+)`", row)]


def test_every_test_the_table_names_is_a_gate_test(collected, table):
    functions = {node.split("[")[0] for node in collected}

    def exists(test: str) -> bool:
        """A concrete parameter must be collected; a ``[<placeholder>]`` or no parameter names the function."""
        if "[" in test and "[<" not in test:
            return test in collected
        return test.split("[")[0] in functions

    unknown = [t for t in table if not exists(t)]
    assert not unknown, f"README seed coverage names tests the gate does not have: {unknown}"


def test_every_gate_test_answers_a_criterion_of_the_table(collected, table):
    named = {t.split("[")[0] for t in table}
    unmapped = sorted({node.split("[")[0] for node in collected} - named)
    assert not unmapped, f"gate tests no row of the README's seed coverage maps to a criterion: {unmapped}"
