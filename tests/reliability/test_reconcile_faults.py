"""Fault injection at every AWS call of a reconcile run (issue 13, point 6).

For each scenario (a lost success to feed, a lost failure, a vanished AMI to fall back from,
config drift to converge, in-use tags to add and remove), a fault-free run of the reconcile
Lambda (``amistate.shims.reconcile.handler``) on a fresh world gives the reference end state
and the AWS calls the run makes (N calls). Then, for each call N and fault kind, a fresh
world runs the reconcile Lambda once with call N failing (see tests/reliability/faults.py),
and:

* the fault is never swallowed: the invocation raises exactly the injected error (a read
  failed: nothing could be planned), or raises ``ReconcileFailed`` after its summary line
  names the preset (or ``tags in <region>``) whose repair the error stopped, with the error's
  name; a crash kills the invocation. The one fault absorbed is a throttled ``PutParameter``
  (the SSM adapter's paced retry): then the run must report no failure and must already have
  reached the reference end state;
* SSM never holds a partial or non-JSON value;
* one following fault-free run (after a crash, in a new process) succeeds and reaches exactly
  the reference end state: every DynamoDB item (minus the wall-clock ``createdAt``), the SSM
  value and type, every AMI's in-use tag; a third run plans nothing and writes nothing;
* no log line holds the planted config secret.

Fault kinds: the five of the event matrix, plus ``access-denied`` (an IAM policy missing the
call: ``AccessDeniedException``, EC2's ``UnauthorizedOperation``; botocore does not retry it).

Sampled to fit CI (``AMISTATE_RECONCILE_FAULTS=full`` runs every call with every kind, 318
cases): every call N of every scenario is faulted, with

* every kind, on each write (``UpdateItem``, ``PutParameter``, ``CreateTags``, ``DeleteTags``);
* ``crash-after`` and one of the five other kinds, rotating, on every other call of the
  repair phase (the calls after the run's five reads);
* one kind, rotating over all six, on each of the five reads that come before anything is
  planned (``Scan``, ``ListImagePipelineImages``, ``GetParameters``, ``DescribeImages`` x 2:
  the same in every scenario, so across the five scenarios each read gets five of the kinds).

Figures go to build/reliability/reconcile_faults.json (see docs/reliability.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from attrs import frozen

from amistate.shims import reconcile, runtime
from amistate.testing.standin import ImageBuilderStandIn
from tests.reliability.common import PRESET, REGION, SECRET, capture_logs, record_figures
from tests.reliability.faults import (
    RECONCILE_FAULTS,
    Crash,
    Injector,
    instant_retries,
    is_the_fault,
)
from tests.reliability.reconcile_world import WRITES, ReconcileWorld
from tests.servers import Endpoint
from tests.shims.fakes import running

TAGS = f"tags in {REGION}"
#: What a summary's ``failed`` text must name for each fault.
NAMES = {
    "throttling": ("ThrottlingException", "RequestLimitExceeded"),
    "http-500": ("InternalServerError", "InternalError"),
    "connection-reset": ("ConnectionClosedError",),
    "read-timeout": ("ReadTimeoutError",),
    "access-denied": ("AccessDeniedException", "UnauthorizedOperation"),
}


def _base(world: ReconcileWorld) -> None:
    """Build 1 succeeded and its event arrived; a run has tagged its AMI."""
    world.build("b1", 0)
    world.reconcile()


def _lost_success(world: ReconcileWorld) -> None:
    _base(world)
    world.build("b2", 2, deliver=False)


def _lost_failure(world: ReconcileWorld) -> None:
    _base(world)
    world.build("f2", 2, status="FAILED", deliver=False)


def _vanished(world: ReconcileWorld) -> None:
    _base(world)
    world.build("b2", 2)
    world.reconcile()
    world.deregister("b2")


def _drift(world: ReconcileWorld) -> None:
    _base(world)
    world.edit_parameter(timeout=60, instanceTypes=["t3.nano"])


def _tags(world: ReconcileWorld) -> None:
    _base(world)
    world.build("b2", 2)
    world.reconcile()
    world.untag("b2")  # in use, untagged by hand
    world.register("stray")  # needed by no preset, tagged by hand
    world.tag("stray", PRESET)


@frozen
class Scenario:
    name: str
    setup: Callable[[ReconcileWorld], None]
    #: The summary counts of the reference run (what it repairs).
    counts: dict[str, int]


def _counts(**nonzero: int) -> dict[str, int]:
    zero = (
        "builds",
        "fallbacks",
        "parameters",
        "trimmed",
        "tagged",
        "untagged",
        "promoted",
        "withdrawn",
    )
    return dict.fromkeys(zero, 0) | nonzero


#: The run's reads before it plans anything (the same in every scenario).
READS = 5
FULL = os.environ.get("AMISTATE_RECONCILE_FAULTS", "") == "full"


def sampled(scenario: int, n: int, operation: str, fault: str) -> bool:
    """Whether the CI-sized matrix faults call ``n`` (``operation``) with ``fault``."""
    if FULL or operation in WRITES:
        return True
    if n <= READS:
        return RECONCILE_FAULTS[(scenario + n) % len(RECONCILE_FAULTS)] == fault
    others = [f for f in RECONCILE_FAULTS if f != "crash-after"]
    return fault in ("crash-after", others[(scenario + n) % len(others)])


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("lost-success", _lost_success, _counts(builds=1, parameters=1, tagged=1)),
        Scenario("lost-failure", _lost_failure, _counts(builds=1)),
        Scenario("vanished-ami", _vanished, _counts(fallbacks=1, parameters=1)),
        Scenario("config-drift", _drift, _counts(parameters=1)),
        Scenario("in-use-tags", _tags, _counts(tagged=1, untagged=1)),
    )
}


class Harness:
    def __init__(self, world: ReconcileWorld) -> None:
        self.world = world
        self._references: dict[str, tuple[Any, list[str]]] = {}

    def prepare(self, scenario: Scenario) -> None:
        """A fresh world in the scenario's starting state, and a cold process."""
        self.world.fresh()
        scenario.setup(self.world)
        self.world.new_process()
        self.world.injector.disarm()

    def reference(self, scenario: Scenario) -> tuple[Any, list[str]]:
        if scenario.name not in self._references:
            self.prepare(scenario)
            summary = self.world.reconcile()
            operations = list(self.world.injector.operations)
            assert summary["failed"] == {} and summary["problems"] == [], summary
            assert summary["counts"] == scenario.counts, summary
            self.world.check_parameter()
            self._references[scenario.name] = (self.world.snapshot(), operations)
        return self._references[scenario.name]


@pytest.fixture(scope="module")
def harness(moto_server: Endpoint) -> Iterator[Harness]:
    with instant_retries(), running(ImageBuilderStandIn(strict=True)) as images:
        try:
            yield Harness(ReconcileWorld(moto_server, images, Injector()))
        finally:
            runtime.reset()


def _summary_line(logs: Any) -> dict[str, Any] | None:
    lines = [d for d in logs.decisions() if d.get("action") == "summary"]
    assert len(lines) <= 1, lines
    return lines[0] if lines else None


@pytest.mark.parametrize("fault", RECONCILE_FAULTS)
@pytest.mark.parametrize("scenario_name", list(SCENARIOS))
def test_every_reconcile_call_faulted_then_a_clean_run_converges(
    harness: Harness, scenario_name: str, fault: str
) -> None:
    scenario = SCENARIOS[scenario_name]
    world, injector = harness.world, harness.world.injector
    expected, operations = harness.reference(scenario)
    assert operations, "every reconcile run makes AWS calls"
    started = time.perf_counter()
    figures: dict[str, Any] = {"calls": len(operations), "cases": 0, "converged": 0}
    figures["faulted"] = []
    figures["attempts_failed"] = 0
    outcomes = dict.fromkeys(
        ("raised", "raised-after-repairs", "reported", "absorbed", "crashed"), 0
    )

    index = list(SCENARIOS).index(scenario_name)
    for n in range(1, len(operations) + 1):
        if not sampled(index, n, operations[n - 1], fault):
            continue
        where = f"{scenario.name}: {fault} at call {n} ({operations[n - 1]})"
        harness.prepare(scenario)
        injector.arm(n, fault)
        with capture_logs(root=False) as logs:
            surfaced: BaseException | None = None
            summary: dict[str, Any] | None = None
            try:
                summary = world.reconcile()
            except (Exception, Crash) as exc:
                surfaced = exc
            assert injector.count >= n, f"{where}: call {n} never happened"
            # botocore's 4 attempts for what it retries (EC2's XML codes included); one
            # for a denied call; none failed in flight for a crash after the call.
            attempts = {"access-denied": 1, "crash-after": 0}.get(fault, 4)
            assert injector.attempts_failed == attempts, f"{where}: {injector.attempts_failed}"
            figures["attempts_failed"] += injector.attempts_failed
            made = injector.count
            assert injector.operations[n - 1] == operations[n - 1], f"{where}: another call"
            injector.disarm()
            line = _summary_line(logs)

            if fault == "crash-after":
                assert isinstance(surfaced, Crash), f"{where}: the process survived: {surfaced!r}"
                assert line is None, f"{where}: a dead process logged a summary"
                outcome = "crashed"
            elif isinstance(surfaced, reconcile.ReconcileFailed):
                # A repair failed: the summary names who, and why.
                assert line is not None, f"{where}: no summary line"
                assert line["failed"], f"{where}: raised, but the summary names no failure"
                assert set(line["failed"]) <= {PRESET, TAGS}, f"{where}: {line['failed']}"
                text = " ".join(line["failed"].values())
                assert any(name in text for name in NAMES[fault]), f"{where}: {line['failed']}"
                assert line["converged"] is False, where
                outcome = "reported"
            elif surfaced is not None:
                # The error itself: a read before anything was planned failed (counted as
                # raised-after-repairs if a later call ever did that: none does).
                assert is_the_fault(surfaced, fault), f"{where}: surfaced as {surfaced!r}"
                if n <= READS:
                    outcome = "raised"
                else:
                    assert line is None, f"{where}: {line}"
                    assert world.snapshot() == expected, f"{where}: raised mid-repair"
                    outcome = "raised-after-repairs"
            else:
                # Absorbed: a throttled PutParameter, retried by the paced write.
                assert summary is not None
                paced = fault == "throttling" and operations[n - 1] == "PutParameter"
                assert paced, f"{where}: the fault was swallowed (silent success): {summary}"
                assert made > n, f"{where}: the throttled write was not retried"
                assert summary["failed"] == {}, f"{where}: {summary}"
                assert summary["counts"] == scenario.counts, f"{where}: {summary}"
                assert world.snapshot() == expected, f"{where}: absorbed, but not repaired"
                outcome = "absorbed"
            outcomes[outcome] += 1
            world.check_parameter()
            world.new_process()  # the next scheduled run is another invocation

            healed = world.reconcile()
            assert healed["failed"] == {} and healed["problems"] == [], f"{where}: {healed}"
            world.check_parameter()
            assert world.snapshot() == expected, f"{where}: end state differs"
            injector.disarm()
            quiet = world.reconcile()
            writes = [op for op in injector.operations if op in WRITES]
            assert quiet["counts"] == _counts(), f"{where}: the third run still repairs: {quiet}"
            assert quiet["converged"] is True, f"{where}: {quiet}"
            assert writes == [], f"{where}: the third run wrote {writes}"
        assert SECRET not in logs.text(), f"{where}: the config secret was logged"
        figures["cases"] += 1
        figures["converged"] += 1
        figures["faulted"].append(n)

    assert figures["cases"], f"{scenario.name} x {fault}: no call faulted"
    figures |= outcomes
    figures["seconds"] = round(time.perf_counter() - started, 2)
    record_figures("reconcile_faults", {f"{scenario.name}/{fault}": figures})
    record_figures("reconcile_calls", {scenario.name: operations})
    print(f"\n{scenario.name} x {fault}: {figures}")
