"""The reconciler's promise: the end state is a function of the builds Image Builder holds.

Hypothesis draws a few builds of one pipeline (successes and failures, start
times that overlap or coincide, any durations), finishes them in any order,
delivers each build's event 0, 1 or 2 times in any order (so events are lost,
duplicated and late), crashes some executions (the Lambda dies right before,
or right after, its SSM write), and runs the reconciler at random points (its
own writes may crash too). After every build has finished, one final
reconcile run must leave:

* the record's status register on the newest build by start (then version);
* the record's AMI register, and the SSM parameter, on the newest good build;
* every other key of the parameter as the Config says;

whatever was lost; and a second run after it plans nothing.

All through the real service and reconciler over the in-memory adapters
(``amistate_adapters.memory``, ``memory_inventory``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from amistate_adapters.memory import memory_ports
from amistate_adapters.memory_inventory import MemoryMachineImages, MemoryPipelineImages
from attrs import evolve, frozen
from hypothesis import given
from hypothesis import strategies as st

from amistate.arns import parse_build_arn
from amistate.compose import Runtime, from_ports
from amistate.deploy import PresetProperties
from amistate.events import BuildEvent, RegionalAmi
from amistate.inventory import Inventory
from amistate.ports import Parameter, ParameterStore
from amistate.settings import Settings

REGION = "us-west-2"
ACCOUNT = "111122223333"
PRESET = "linux-x64"
PIPELINE = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image-pipeline/spot-runner-linux-x64"
IMAGE = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-linux-x64"
PARAMETER = f"/spot-runner/configs/{PRESET}"
CONFIG: Mapping[str, Any] = {"instanceTypes": ["c7i.large"], "timeout": 3600, "spot": True}
T0 = datetime(2024, 6, 3, 6, 0, tzinfo=UTC)

Crash = Literal["before", "after"] | None


class Crashed(Exception):
    """The execution died (a Lambda timeout, an OOM kill)."""


class CrashingParameters:
    """An SSM parameter store whose next ``put`` can kill its caller, before or after writing."""

    def __init__(self, inner: ParameterStore) -> None:
        self.inner = inner
        self.region = inner.region
        self.crash: Crash = None

    def get(self, name: str) -> Parameter | None:
        return self.inner.get(name)

    def get_many(self, names: Collection[str]) -> Mapping[str, Parameter | None]:
        return self.inner.get_many(names)

    def put(self, name: str, value: str, like: Parameter | None) -> None:
        crash, self.crash = self.crash, None
        if crash == "before":
            raise Crashed("died before PutParameter")
        self.inner.put(name, value, like)
        if crash == "after":
            raise Crashed("died after PutParameter, before confirming")


@frozen
class Build:
    number: int  # the build version's last part: 1.0.0/<number>
    start: int  # minutes after T0
    minutes: int  # how long it ran
    good: bool

    @property
    def arn(self) -> str:
        return f"{IMAGE}/1.0.0/{self.number}"

    @property
    def created(self) -> datetime:
        return T0 + timedelta(minutes=self.start)

    @property
    def finished(self) -> datetime:
        return self.created + timedelta(minutes=self.minutes)

    @property
    def order(self) -> tuple[int, int]:
        return (self.start, self.number)


class Lab:
    """One preset of one pipeline over in-memory ports, Image Builder and EC2."""

    def __init__(self) -> None:
        ports = memory_ports((REGION,))
        self.ssm = CrashingParameters(ports.parameters[REGION])
        ports = evolve(ports, parameters={REGION: self.ssm})
        self.pipelines = MemoryPipelineImages(page_size=2)
        self.pipelines.add_pipeline(PIPELINE)
        self.ec2 = MemoryMachineImages(REGION, account=ACCOUNT)
        settings = Settings(home_region=REGION, account=ACCOUNT, partition="aws", table="t")
        inventory = Inventory(self.pipelines, {REGION: self.ec2})
        self.rt: Runtime = from_ports(settings, ports, inventory=inventory)
        props = PresetProperties(PRESET, PIPELINE, dict(CONFIG), start_build=False)
        self.rt.deployer.create(props, "deploy-1")
        self.amis: dict[int, str] = {}
        self.finished: set[int] = set()

    def finish(self, build: Build) -> None:
        """The build ends in Image Builder (its event may or may not be delivered)."""
        if build.number in self.finished:
            return
        self.finished.add(build.number)
        amis: dict[str, str] = {}
        if build.good:
            amis[REGION] = self.amis[build.number] = self.ec2.register()
        status = "AVAILABLE" if build.good else "FAILED"
        self.pipelines.add(
            PIPELINE,
            build.arn,
            status,
            build.created,
            amis,
            reason=None if build.good else "boom",
            finished=build.finished,
        )

    def deliver(self, build: Build, crash: Crash) -> None:
        """The build's event (as SNS carries it) through the service."""
        self.finish(build)
        ami = self.amis.get(build.number)
        event = BuildEvent(
            build=parse_build_arn(build.arn),
            status="AVAILABLE" if build.good else "FAILED",
            time=build.finished,
            reason=None if build.good else "boom",
            amis=(RegionalAmi(REGION, ami),) if ami else (),
            pipeline_arn=PIPELINE,
            origin="sns",
            created=build.created,
        )
        self.ssm.crash = crash
        with suppress(Crashed):
            self.rt.service.handle(event)
        self.ssm.crash = None

    def reconcile(self, crash: Crash = None) -> Any:
        self.ssm.crash = crash
        try:
            return self.rt.reconciler.run()
        finally:
            self.ssm.crash = None


Op = tuple[str, int]

builds_strategy = st.lists(
    st.tuples(st.integers(0, 8), st.integers(1, 30), st.booleans()), min_size=1, max_size=5
)
crashes: st.SearchStrategy[Crash] = st.sampled_from([None, None, "before", "after"])


def _play(lab: Lab, builds: list[Build], ops: list[Op], crash_of: list[Crash]) -> None:
    for (kind, index), crash in zip(ops, crash_of, strict=True):
        if kind == "finish":
            lab.finish(builds[index])
        elif kind == "deliver":
            lab.deliver(builds[index], crash)
        else:
            lab.reconcile(crash)
    for build in builds:
        lab.finish(build)


def _check_end_state(lab: Lab, builds: list[Build]) -> None:
    report = lab.reconcile()
    assert report.failed == {}
    record = lab.rt.service.record(PRESET)
    assert record is not None
    newest = max(builds, key=lambda b: b.order)
    assert record.build_id == newest.arn
    assert record.status == ("ready" if newest.good else "failed")
    assert record.updated_at == newest.finished
    good = [b for b in builds if b.good]
    parameter = lab.ssm.get(PARAMETER)
    if not good:
        assert record.ami_id is None
        assert parameter is None
    else:
        best = max(good, key=lambda b: b.order)
        assert record.ami_id == lab.amis[best.number]
        assert record.ami_build_id == best.arn
        assert parameter is not None
        assert json.loads(parameter.value) == {**CONFIG, "amiId": lab.amis[best.number]}
    again = lab.reconcile()
    assert again.plan.changes == (), again.plan.changes
    assert again.plan.problems == ()


def _builds(specs: list[tuple[int, int, bool]]) -> list[Build]:
    return [Build(n + 1, start, minutes, good) for n, (start, minutes, good) in enumerate(specs)]


@given(specs=builds_strategy, data=st.data())
def test_the_end_state_is_what_the_builds_determine_whatever_was_lost(
    specs: list[tuple[int, int, bool]], data: st.DataObject
) -> None:
    builds = _builds(specs)
    ops: list[Op] = [("finish", i) for i in range(len(builds))]
    for i in range(len(builds)):
        ops += [("deliver", i)] * data.draw(st.integers(0, 2), label=f"deliveries of {i + 1}")
    ops += [("reconcile", 0)] * data.draw(st.integers(0, 3), label="reconcile runs")
    order = data.draw(st.permutations(ops), label="order")
    crash_of: list[Crash] = [data.draw(crashes, label=f"crash at {kind} {i}") for kind, i in order]
    lab = Lab()
    _play(lab, builds, list(order), crash_of)
    _check_end_state(lab, builds)


# The classic cases, pinned.


def test_every_event_lost() -> None:
    builds = _builds([(0, 40, True), (10, 20, False), (5, 60, True)])
    lab = Lab()
    _play(lab, builds, [], [])
    _check_end_state(lab, builds)


def test_a_crash_after_the_ssm_write_then_the_newer_event_lost() -> None:
    builds = _builds([(0, 40, True), (30, 20, True)])
    lab = Lab()
    ops: list[Op] = [("deliver", 0), ("reconcile", 0), ("deliver", 1), ("finish", 1)]
    _play(lab, builds, ops, [None, None, "before", None])
    _check_end_state(lab, builds)


def test_overlapping_builds_started_in_the_same_minute_order_by_version() -> None:
    builds = _builds([(3, 50, True), (3, 10, True), (3, 30, False)])
    lab = Lab()
    ops: list[Op] = [("deliver", 2), ("reconcile", 0), ("deliver", 0), ("deliver", 0)]
    _play(lab, builds, ops, [None, "after", "after", None])
    _check_end_state(lab, builds)


def test_a_reconcile_run_that_crashes_is_healed_by_the_next() -> None:
    builds = _builds([(0, 40, True), (60, 40, True)])
    lab = Lab()
    _play(lab, builds, [("deliver", 0), ("finish", 1), ("reconcile", 0)], [None, None, "before"])
    crashed = lab.rt.service.record(PRESET)
    assert crashed is not None
    assert crashed.ami_id == lab.amis[2]  # the record moved; SSM did not
    parameter = lab.ssm.get(PARAMETER)
    assert parameter is not None
    assert json.loads(parameter.value)["amiId"] == lab.amis[1]
    _check_end_state(lab, builds)
