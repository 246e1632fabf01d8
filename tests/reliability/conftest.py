"""Fixtures of the reliability suite: the AWS-backed world (moto's server + Image Builder fake)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from amistate.shims import custom_resource, runtime
from amistate.shims.response import PutPolicy
from amistate.testing.standin import ImageBuilderStandIn
from tests.reliability.aws_world import AwsWorld
from tests.reliability.common import FIGURES, all_figures
from tests.reliability.faults import Injector, instant_retries
from tests.servers import Endpoint
from tests.shims.fakes import ResponseServer, running


@pytest.fixture(scope="module")
def aws_world(moto_server: Endpoint) -> Iterator[tuple[AwsWorld, ResponseServer]]:
    """One set of hooked clients per module; call ``world.fresh()`` for each case."""
    with (
        instant_retries(),
        running(ImageBuilderStandIn(strict=True)) as images,
        running(ResponseServer()) as responses,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setattr(custom_resource, "POLICY", PutPolicy(timeout=2.0, attempts=2, backoff=0))
        try:
            yield AwsWorld(moto_server, images, Injector()), responses
        finally:
            runtime.reset()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the harness's figures (also in build/reliability/*.json) at the end of the run."""
    figures = all_figures()
    faults = figures.get("faults")
    if not figures:
        return
    write = terminalreporter.write_line
    terminalreporter.section("amistate reliability figures")
    if isinstance(faults, dict):
        total = {k: sum(int(v[k]) for v in faults.values()) for k in ("cases", "surfaced")}
        converged = sum(int(v["converged"]) for v in faults.values())
        write(
            f"fault injection: {total['cases']} cases in {len(faults)} (event x fault) pairs, "
            f"{total['surfaced']} surfaced, {converged} converged after redelivery"
        )
    runs = figures.get("reconcile_faults")
    if isinstance(runs, dict):
        total = {k: sum(int(v[k]) for v in runs.values()) for k in ("cases", "converged")}
        outcomes = ("reported", "raised", "raised-after-repairs", "absorbed", "crashed")
        split = ", ".join(f"{k} {sum(int(v.get(k, 0)) for v in runs.values())}" for k in outcomes)
        write(
            f"reconcile fault injection: {total['cases']} cases in {len(runs)} "
            f"(scenario x fault) pairs ({split}), {total['converged']} converged on the next run"
        )
    hostile = figures.get("hostile", {})
    for name in ("lambda", "custom_resource"):
        if name in hostile:
            write(f"hostile inputs ({name}): {hostile[name]['inputs']}")
    write(f"details: {FIGURES}/*.json")
