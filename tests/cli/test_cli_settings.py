"""Issue 20, point 4: the CLI reads the functions' environment, every setting of it.

Through ``amistate.cli.main.main([...])`` on moto's server (DynamoDB, SSM, EC2)
and the Image Builder stand-in. The code before the change (0864f6a) built the
CLI's settings by hand from four variables: ``amistate reconcile`` trimmed the
history to 20 builds where the functions, with ``AMISTATE_HISTORY_LIMIT=25``,
keep 25, and the five builds it dropped were gone for good.
"""

from __future__ import annotations

import pytest

from tests.cli.conftest import Operator, init

LIMIT = 25


def _kept(op: Operator) -> list[str]:
    history = op.json("history", "linux-x64")
    return [build["buildId"] for build in history["builds"]]


def test_reconcile_keeps_the_history_limit_of_the_environment(
    op: Operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMISTATE_HISTORY_LIMIT", str(LIMIT))
    init(op, "linux-x64")
    # The first build's event reaches the function, the others are lost: the run feeds them.
    builds = [op.build("linux-x64", 0)[0]]
    builds += [op.build("linux-x64", hour, deliver=False)[0] for hour in range(1, LIMIT + 2)]

    done = op.json("reconcile", "linux-x64")
    assert (done["converged"], done["counts"]["builds"]) == (True, LIMIT + 1)
    kept = _kept(op)
    assert len(kept) == LIMIT  # 25, not 20
    assert kept[0] == builds[-1]

    again = op.json("reconcile", "linux-x64", "--dry-run")
    assert again["instructions"] == []  # at its limit, the history is not trimmed again


def test_a_flag_overrides_its_own_variable_only(
    op: Operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--table`` wins over AMISTATE_TABLE; AMISTATE_HISTORY_LIMIT still holds."""
    init(op, "linux-x64")
    good = op.build("linux-x64", 0)[0]
    failed = [op.build("linux-x64", hour, status="FAILED")[0] for hour in range(1, 4)]
    monkeypatch.setenv("AMISTATE_TABLE", "not-this-table")
    monkeypatch.setenv("AMISTATE_HISTORY_LIMIT", "2")

    op.json("reconcile", "linux-x64", "--table", op.cli.table)
    history = op.json("history", "linux-x64", "--table", op.cli.table)
    # Two builds: the newest, and the one in use (the history trims failures first).
    assert [build["buildId"] for build in history["builds"]] == [failed[-1], good]
