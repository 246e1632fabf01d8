"""Fixtures shared by every test suite: the local AWS servers of tests/servers.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import (
    aws_env,
    dynalite_server,
    dynalite_table,
    moto,
    moto_server,
    moto_table,
)

__all__ = ["aws_env", "dynalite_server", "dynalite_table", "moto", "moto_server", "moto_table"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Captured output as valid UTF-8 (lone surrogates escaped).

    The hostile-input tests log strings with lone surrogates; pytest-xdist sends each
    report's captured sections from its worker to the controller as UTF-8, and a lone
    surrogate would crash the worker instead of showing the output.
    """
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    report.sections = [
        (name, text.encode("utf-8", "backslashreplace").decode("utf-8"))
        for name, text in report.sections
    ]
