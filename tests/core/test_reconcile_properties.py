"""The reconciler's promise: the end state is a function of the builds Image Builder holds.

Hypothesis draws a few builds of one pipeline (successes and failures, start
times that overlap or coincide, any durations), each with an AMI in two
regions, finishes them in any order, delivers each build's event 0, 1 or 2
times in any order (so events are lost, duplicated and late), crashes some
executions (the Lambda dies right before, or right after, its SSM write),
deregisters AMIs in either region, rolls back, and runs the reconciler at
random points (its own writes may crash too), over every preset or over one,
with a history limit small enough to trim. After every build has finished,
an unpin of every preset and one final reconcile run must leave:

* the record's status register on the newest build by start (then version);
* the record's AMI register (its ordering key included), and each region's
  SSM parameter, on the newest good build whose AMIs all still exist (every
  newer good build lost one), or a problem when no good build the history
  keeps is whole;
* in the history: the AMI register's build and the newest build, within the
  limit unless every entry is needed;
* every other key of the parameter as the Config says;

whatever was lost; and a second run after it plans nothing.

Two deployments share the account, its EC2 and the pipeline: ``staging`` (the
presets ``linux-x64`` and ``linux-x64-large``, which an operator may roll back
and unpin) and ``prod`` (``linux-x64``, its events delivered on their own).
Around every reconcile run of either:

* no AMI that a reconciled preset needs is unprotected after the run (in each
  region: the AMI its parameter holds, the newest good one, the two previous
  good ones), and an AMI the deployment protected for a preset the run did not
  reconcile stays protected;
* a deployment never changes another deployment's tags;

and at the end each deployment protects exactly the AMIs its presets need.
Every rollback pins the newest good build older than the one the preset's
home parameter holds (not the record's: an SSM write may have died).

All through the real service and reconciler over the in-memory adapters
(``amistate_adapters.memory``, ``memory_inventory``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from amistate_adapters.memory import MemoryImageCatalog, memory_ports
from amistate_adapters.memory_inventory import MemoryMachineImages, MemoryPipelineImages
from attrs import evolve, frozen
from hypothesis import given
from hypothesis import strategies as st

from amistate.core.amis import Amis
from amistate.core.arns import parse_build_arn
from amistate.core.builds import find_build, good_builds, protected_keys
from amistate.core.events import BuildEvent
from amistate.core.in_use import PROTECTED, InUseKeys, holding
from amistate.core.settings import Settings
from amistate.core.state import AmiState
from amistate.errors import PinRefused
from amistate.ports import Parameter, ParameterStore, Written
from amistate.ports.inventory import Inventory
from amistate.usecases.deploy import PresetProperties
from amistate.usecases.reconcile.run import Report
from amistate.wiring.compose import Runtime, from_ports

REGION = "us-west-2"
EU = "eu-west-1"
REGIONS = (REGION, EU)
ACCOUNT = "111122223333"
PRESET = "linux-x64"
SIBLING = "linux-x64-large"
LIMIT = 3  # builds a history keeps: small, so that runs trim
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

    def history(self, name: str) -> tuple[Parameter, ...]:
        return self.inner.history(name)

    def put(self, name: str, value: str, like: Parameter | None) -> Written:
        crash, self.crash = self.crash, None
        if crash == "before":
            raise Crashed("died before PutParameter")
        written = self.inner.put(name, value, like)
        if crash == "after":
            raise Crashed("died after PutParameter, before confirming")
        return written

    def put_ami(self, name: str, ami_id: str) -> Written:
        return self.inner.put_ami(name, ami_id)


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


#: region -> AMI -> the tags of one deployment's keys
Owned = dict[str, dict[str, dict[str, str]]]


class Deployment:
    """One stack: its table and parameters (in memory), its presets, its reconciler."""

    def __init__(
        self,
        table: str,
        presets: tuple[str, ...],
        pipelines: MemoryPipelineImages,
        ec2: Any,
        images: MemoryImageCatalog,
    ) -> None:
        ports = memory_ports(REGIONS)
        self.ssm = CrashingParameters(ports.parameters[REGION])
        ports = evolve(ports, parameters={**ports.parameters, REGION: self.ssm}, images=images)
        self.ec2: dict[str, MemoryMachineImages] = ec2
        settings = Settings(
            home_region=REGION,
            account=ACCOUNT,
            partition="aws",
            table=table,
            extra_regions=(EU,),
            history_limit=LIMIT,
        )
        self.keys: InUseKeys = settings.in_use_keys()
        self.presets = presets
        self.rt: Runtime = from_ports(settings, ports, inventory=Inventory(pipelines, ec2))
        for n, preset in enumerate(presets):
            props = PresetProperties(preset, PIPELINE, dict(CONFIG), start_build=False)
            self.rt.deployer.create(props, f"deploy-{n}")

    def owned(self) -> Owned:
        """Every AMI's tags of this deployment's keys, by region."""
        owned: Owned = {}
        for region in REGIONS:
            found = self.ec2[region].tagged(self.keys.owned)
            owned[region] = {ami: dict(tags) for ami, tags in found.items()}
        return owned

    def run(self, scope: tuple[str, ...] = (), crash: Crash = None) -> Report:
        self.ssm.crash = crash
        try:
            return self.rt.reconciler.run(scope or None)
        finally:
            self.ssm.crash = None


def needed(record: AmiState, ec2: Mapping[str, MemoryMachineImages]) -> set[tuple[str, str]]:
    """(region, AMI) a preset needs, as docs/operations.md promises: the AMI its parameter
    holds (the pin's), the newest good one, and the two previous good builds' (older than
    the one in use); of these, the AMIs EC2 still has."""
    previous = sorted(
        (
            b
            for b in record.history.values()
            if b.good and b.build_id != record.ami_build_id and b.key < record.ami_key
        ),
        key=lambda b: b.key,
        reverse=True,
    )[:2]
    found = set()
    for region in REGIONS:
        amis = [record.ami_for(region), record.latest_ami_for(region)]
        amis += [b.amis.at(region) for b in previous]
        found |= {(region, ami) for ami in amis if ami in ec2[region].images}
    return found


class Lab:
    """One pipeline, EC2 in two regions, and two deployments sharing them."""

    def __init__(self) -> None:
        self.pipelines = MemoryPipelineImages(page_size=2)
        self.pipelines.add_pipeline(PIPELINE)
        self.ec2 = {region: MemoryMachineImages(region, account=ACCOUNT) for region in REGIONS}
        #: GetImage: the same builds the pipeline lists, for both deployments.
        self.images = MemoryImageCatalog()
        self.staging = Deployment(
            "staging", (PRESET, SIBLING), self.pipelines, self.ec2, self.images
        )
        self.prod = Deployment("prod", (PRESET,), self.pipelines, self.ec2, self.images)
        self.rt = self.staging.rt
        self.ssm = self.staging.ssm
        self.amis: dict[int, dict[str, str]] = {}
        self.finished: set[int] = set()

    def finish(self, build: Build) -> None:
        """The build ends in Image Builder (its event may or may not be delivered)."""
        if build.number in self.finished:
            return
        self.finished.add(build.number)
        amis: dict[str, str] = {}
        if build.good:
            amis = self.amis[build.number] = {r: self.ec2[r].register() for r in REGIONS}
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
        self.images.add(build.arn, PIPELINE, amis, created=build.created, status=status)

    def deliver(self, build: Build, crash: Crash, to: Deployment | None = None) -> None:
        """The build's event (as SNS carries it) through a deployment's service."""
        deployment = to or self.staging
        self.finish(build)
        amis = self.amis.get(build.number, {})
        event = BuildEvent(
            build=parse_build_arn(build.arn),
            status="AVAILABLE" if build.good else "FAILED",
            time=build.finished,
            reason=None if build.good else "boom",
            amis=Amis.of(amis),
            pipeline_arn=PIPELINE,
            origin="sns",
            created=build.created,
        )
        deployment.ssm.crash = crash
        with suppress(Crashed):
            deployment.rt.service.handle(event)
        deployment.ssm.crash = None

    def reconcile(
        self, crash: Crash = None, to: Deployment | None = None, scope: tuple[str, ...] = ()
    ) -> Report:
        """One run, checked: its presets' AMIs protected, the other deployment's tags
        untouched, and what it protected for presets outside the run still protected."""
        deployment = to or self.staging
        other = self.prod if deployment is self.staging else self.staging
        theirs, before = other.owned(), deployment.owned()
        report = deployment.run(scope, crash)
        assert other.owned() == theirs
        after = deployment.owned()
        if scope:
            for region, amis in before.items():
                for ami, tags in amis.items():
                    was = holding(tags, deployment.keys)
                    if was.protected and (was.presets - set(scope) or not was.complete):
                        now = holding(after[region].get(ami, {}), deployment.keys)
                        assert now.protected, (region, ami, tags)
        if not report.failed:
            for preset in scope or deployment.presets:
                record = deployment.rt.service.record(preset)
                assert record is not None
                for region, ami in needed(record, self.ec2):
                    now = holding(after[region].get(ami, {}), deployment.keys)
                    assert now.protected, (preset, region, ami)
                    assert preset in now.presets or not now.complete, (preset, region, ami)
        return report

    def target(self, which: int) -> tuple[Deployment, str]:
        """0: staging's sibling, 1: prod's only preset, 2: staging's linux-x64."""
        return [(self.staging, SIBLING), (self.prod, PRESET), (self.staging, PRESET)][which]

    def rollback(self, which: int) -> None:
        """Back to the newest good build older than the one the home parameter holds."""
        deployment, preset = self.target(which)
        record = deployment.rt.service.record(preset)
        assert record is not None
        parameter = deployment.ssm.get(f"/spot-runner/configs/{preset}")
        # What the runners launch; the record's AMI while no parameter was ever written.
        held = json.loads(parameter.value)["amiId"] if parameter else record.ami_id
        holding_build = find_build(record.history.values(), held) if held else None
        older = [
            b
            for b in good_builds(record.history.values())
            if holding_build is not None and b.key < holding_build.key
        ]
        try:
            change = deployment.rt.pins.rollback(preset, reason="bad agent")
        except PinRefused:
            assert not older
        else:
            assert change.pin is not None and change.pin.build_id == older[0].build_id

    def unpin(self, which: int) -> None:
        deployment, preset = self.target(which)
        deployment.rt.pins.unpin(preset)

    def vanish(self, build: Build, region: str) -> None:
        """A lifecycle policy or a person deregisters the build's AMI in ``region``."""
        ami = self.amis.get(build.number, {}).get(region)
        if ami is not None and ami in self.ec2[region].images:
            self.ec2[region].deregister(ami)

    def whole(self, number: int) -> bool:
        """Whether every region still has the build's AMI."""
        return all(self.amis[number][r] in self.ec2[r].images for r in REGIONS)


Op = tuple[str, int]  # ("vanish", 2 * build + region) for a deregistration

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
        elif kind == "deliver-prod":
            lab.deliver(builds[index], crash, to=lab.prod)
        elif kind == "reconcile-prod":
            lab.reconcile(crash, to=lab.prod)
        elif kind == "reconcile-one":
            lab.reconcile(crash, scope=((PRESET, SIBLING)[index],))
        elif kind == "rollback":
            lab.rollback(index)
        elif kind == "unpin":
            lab.unpin(index)
        elif kind == "vanish":
            lab.vanish(builds[index // 2], REGIONS[index % 2])
        else:
            lab.reconcile(crash)
    for build in builds:
        lab.finish(build)


def _check_end_state(lab: Lab, builds: list[Build]) -> None:
    for which in range(3):
        lab.unpin(which)
    report = lab.reconcile()
    assert report.failed == {}
    record = lab.rt.service.record(PRESET)
    assert record is not None
    newest = max(builds, key=lambda b: b.order)
    assert record.build_id == newest.arn
    assert record.status == ("ready" if newest.good else "failed")
    assert record.updated_at == newest.finished
    assert record.order_key in record.history
    good = sorted((b for b in builds if b.good), key=lambda b: b.order, reverse=True)
    parameters = [lab.rt.converger.parameter(region, PRESET) for region in REGIONS]
    if not good:
        assert record.ami_id is None
        assert parameters == [None, None]
    else:
        _check_ami_register(lab, record, good, report)
    assert len(record.history) <= LIMIT or set(record.history) == protected_keys(record)
    again = lab.reconcile()
    assert again.plan.changes == (), again.plan.changes
    assert again.plan.problems == report.plan.problems
    _check_exact_protection(lab)


def _check_ami_register(lab: Lab, record: AmiState, good: list[Build], report: Report) -> None:
    """The newest whole good build; every newer one lost an AMI (a fallback or a problem)."""
    held = next(b for b in good if b.arn == record.ami_build_id)
    assert record.history[record.ami_key].build_id == held.arn  # the register's key is its
    assert all(not lab.whole(b.number) for b in good if b.order > held.order)
    if not lab.whole(held.number):  # no good build the history keeps is whole
        assert [p for p in report.plan.problems if "no good build remains" in p.text]
        return
    assert [p for p in report.plan.problems if p.preset == PRESET] == []
    for region in REGIONS:
        parameter = lab.rt.converger.parameter(region, PRESET)
        assert parameter is not None
        assert json.loads(parameter.value) == {**CONFIG, "amiId": lab.amis[held.number][region]}


def _check_exact_protection(lab: Lab) -> None:
    """After full runs of both, each deployment protects exactly what its presets need."""
    assert lab.reconcile(to=lab.prod).failed == {}
    for deployment in (lab.staging, lab.prod):
        wanted: set[tuple[str, str]] = set()
        for preset in deployment.presets:
            record = deployment.rt.service.record(preset)
            assert record is not None
            wanted |= needed(record, lab.ec2)
        protected = {
            (region, ami)
            for region, amis in deployment.owned().items()
            for ami, tags in amis.items()
            if tags.get(deployment.keys.protect) == PROTECTED
        }
        assert protected == wanted


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
        ops += [("deliver-prod", i)] * data.draw(st.integers(0, 1), label=f"prod gets {i + 1}")
    ops += [("reconcile", 0)] * data.draw(st.integers(0, 3), label="reconcile runs")
    ops += [("reconcile-prod", 0)] * data.draw(st.integers(0, 2), label="prod's runs")
    ops += [("reconcile-one", data.draw(st.integers(0, 1), label="preset")) for _ in range(2)]
    for which in (0, 1, 2):
        ops += [("rollback", which)] * data.draw(st.integers(0, 2), label=f"rollbacks {which}")
        ops += [("unpin", which)] * data.draw(st.integers(0, 1), label=f"unpins {which}")
    gone = st.lists(st.integers(0, 2 * len(builds) - 1), max_size=3, unique=True)
    ops += [("vanish", n) for n in data.draw(gone, label="AMIs deregistered")]
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
    assert crashed.ami_id == lab.amis[2][REGION]  # the record moved; SSM did not
    parameter = lab.ssm.get(PARAMETER)
    assert parameter is not None
    assert json.loads(parameter.value)["amiId"] == lab.amis[1][REGION]
    _check_end_state(lab, builds)


def test_a_rolled_back_sibling_and_prod_keep_their_amis_through_runs_over_one_preset() -> None:
    builds = _builds([(0, 40, True), (60, 40, True), (120, 40, True), (180, 40, True)])
    lab = Lab()
    ops: list[Op] = [
        *[("deliver", i) for i in range(4)],
        ("rollback", 0),
        ("rollback", 0),
        ("rollback", 1),
        ("reconcile", 0),
        ("reconcile-prod", 0),
        ("reconcile-one", 0),
        ("unpin", 0),
        ("reconcile-one", 1),
    ]
    _play(lab, builds, ops, [None] * len(ops))
    _check_end_state(lab, builds)


def test_a_rollback_while_ssm_is_behind_the_record_starts_from_what_ssm_holds() -> None:
    """Build 2's SSM write died: the runners still launch build 1, so a rollback has no
    older good build to go to (measured from the record it would pin build 1)."""
    builds = _builds([(0, 40, True), (60, 40, True)])
    lab = Lab()
    _play(lab, builds, [("deliver", 0), ("deliver", 1), ("rollback", 2)], [None, "before", None])
    record = lab.rt.service.record(PRESET)
    assert record is not None and record.pin is None
    _check_end_state(lab, builds)


def test_an_ami_gone_in_the_second_region_falls_back_to_a_build_whole_in_both() -> None:
    builds = _builds([(0, 40, True), (10, 40, True), (20, 40, True), (30, 40, False)])
    lab = Lab()
    ops: list[Op] = [("deliver", n) for n in range(4)]
    ops += [("vanish", 2 * 2 + 1), ("vanish", 2 * 1 + 1), ("reconcile", 0)]
    _play(lab, builds, ops, [None] * len(ops))
    record = lab.rt.service.record(PRESET)
    assert record is not None and record.ami_build_id == builds[0].arn
    _check_end_state(lab, builds)
