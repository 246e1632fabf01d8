"""The reconcile planner: what one run read in, frozen instructions out. Pure.

A Kubernetes-style resync: compare the desired state with the world and list
what would make them agree. Reading and writing live in
:mod:`amistate.reconcile.run`; this module only decides, so a dry run is the
same plan printed instead of executed.

Per preset, in order (each step plans against the record as the steps before
it would leave it):

1. **Builds lost in delivery.** Every terminal build of the preset's pipeline
   that the ordering rules would apply (or that its history lacks) is fed
   through the service exactly as its event would have been.
2. **AMIs that vanished.** If the AMI a region's parameter should hold is not
   launchable, fall back to the newest good build whose AMIs all are; a pinned
   AMI is never replaced, only reported.
3. **SSM.** Every region's parameter must equal its desired value
   (:func:`amistate.desired.parameter_value`).
4. **In-use tags** (per region, across presets): the AMI in use, the pin, the
   newest good one and the previous good ones carry this deployment's in-use
   tags, naming the presets that need them (:mod:`amistate.reconcile.tags`).
   A preset no longer registered to a pipeline (its custom resource was
   deleted) needs nothing any more.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from attrs import evolve, field, frozen

from amistate import rules
from amistate.arns import parse_build_arn
from amistate.builds import PROTECTED_PREVIOUS, good_builds
from amistate.desired import desired_value, drift
from amistate.errors import InvalidConfig, NoAmiForRegion
from amistate.events import BuildEvent
from amistate.in_use import InUseKeys
from amistate.inventory import LAUNCHABLE, BuildSummary, ImageState
from amistate.reconcile.tags import Tag, Tags, Untag, tag_instructions
from amistate.state import AmiState, BuildRecord, newest_first


@frozen
class World:
    """Everything one run read, keyed for lookup; missing keys mean "not read"."""

    home_region: str
    regions: tuple[str, ...]
    records: Mapping[str, AmiState]
    keys: InUseKeys  # this deployment's in-use tag keys
    builds: Mapping[str, tuple[BuildSummary, ...]] = field(factory=dict)  # by pipeline
    parameters: Mapping[tuple[str, str], str | None] = field(factory=dict)  # (region, preset)
    images: Mapping[tuple[str, str], ImageState] = field(factory=dict)  # (region, AMI)
    tags: Tags = field(factory=dict)  # region -> AMI -> {key: value} of keys.read
    history_limit: int = 20
    #: The presets this run reconciles; None: all of them (``records`` holds every one).
    scope: frozenset[str] | None = None


@frozen
class Feed:
    """Run a build the record has not seen through the service, as its event."""

    preset: str
    pipeline_arn: str
    build: BuildSummary


@frozen
class FallBack:
    """The record's AMI ``vanished``; make ``to`` (an older good build) its AMI."""

    preset: str
    vanished: str
    state: ImageState
    to: BuildRecord


@frozen
class Converge:
    """Write the preset's desired value to the regions whose parameter differs."""

    preset: str
    regions: tuple[str, ...]
    keys: tuple[str, ...]  # what differs: "amiId", config keys, or "missing"


@frozen
class Trim:
    """Forget the oldest builds beyond the history limit."""

    preset: str
    keys: tuple[str, ...]


@frozen
class Problem:
    """Something no automatic repair may fix; the operator must act."""

    preset: str
    text: str


Instruction = Feed | FallBack | Converge | Trim | Tag | Untag | Problem


@frozen
class Plan:
    instructions: tuple[Instruction, ...]

    @property
    def changes(self) -> tuple[Instruction, ...]:
        """The instructions that write something."""
        return tuple(i for i in self.instructions if not isinstance(i, Problem))

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(i for i in self.instructions if isinstance(i, Problem))


def plan(world: World) -> Plan:
    """The instructions that converge ``world`` on its desired state."""
    out: list[Instruction] = []
    needed: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for preset in sorted(world.records):
        record, history = _builds(world, preset, world.records[preset], out)
        record = _vanished(world, preset, record, history, out)
        _parameters(world, preset, record, out)
        if len(history) > world.history_limit:
            out.append(Trim(preset, tuple(b.key for b in history[world.history_limit :])))
        if record.pipeline_arn is None:
            continue  # unregistered: its custom resource was deleted
        for region, ami in _protected(world, record, history):
            needed[region][ami].add(preset)
    out.extend(tag_instructions(world.regions, world.tags, needed, world.keys, world.scope))
    return Plan(tuple(out))


def event_of(build: BuildSummary, pipeline_arn: str, time: Any = None) -> BuildEvent:
    """The event a listed build stands for (``time``: when it finished, if known)."""
    return BuildEvent(
        build=parse_build_arn(build.arn),
        status=build.status,
        time=time or build.created,
        created=build.created,
        reason=build.reason,
        amis=build.amis,
        pipeline_arn=pipeline_arn,
        origin="reconcile",
    )


def _builds(
    world: World, preset: str, record: AmiState, out: list[Instruction]
) -> tuple[AmiState, list[BuildRecord]]:
    """Feed the builds the record has not seen; the record and history after them."""
    history = list(record.builds())
    pipeline = record.pipeline_arn
    if pipeline is None:
        return record, history
    known = {entry.key for entry in history}
    oldest_kept = min(known) if len(known) >= world.history_limit else ""
    for build in sorted(world.builds.get(pipeline, ()), key=lambda b: b.created):
        if rules.classify(build.status) is None:
            continue
        event = event_of(build, pipeline)
        if rules.ordering_key(event) in known:
            continue  # the record has seen it (applied, or kept as stale)
        try:
            attempted = rules.attempt(event, world.home_region, world.regions, f"preset {preset}")
        except NoAmiForRegion as exc:
            out.append(Problem(preset, str(exc)))
            continue
        decision = rules.decide(record, attempted)
        if isinstance(decision, rules.Apply):
            record = decision.transition.apply(record, preset)
        elif attempted.key <= oldest_kept:
            continue
        out.append(Feed(preset, pipeline, build))
        history.append(attempted.entry)
        known.add(attempted.key)
    return record, newest_first(history)


def _launchable(world: World, region: str, ami: str | None) -> bool:
    return ami is not None and world.images.get((region, ami), "missing") in LAUNCHABLE


def _vanished(
    world: World, preset: str, record: AmiState, history: list[BuildRecord], out: list[Instruction]
) -> AmiState:
    home = world.home_region
    gone = [
        (region, ami)
        for region in world.regions
        if (ami := record.ami_for(region, home)) is not None and not _launchable(world, region, ami)
    ]
    if not gone:
        return record
    region, ami = gone[0]
    state = world.images.get((region, ami), "missing")
    if record.pin is not None:
        out.append(Problem(preset, f"pinned AMI {ami} is {state} in {region}: pin another"))
        return record
    for build in good_builds(history):
        if all(_launchable(world, r, build.ami_for(r, home)) for r in world.regions):
            out.append(FallBack(preset, ami, state, build))
            return evolve(
                record, ami_id=build.ami_id, amis=dict(build.amis), ami_build_id=build.build_id
            )
    out.append(Problem(preset, f"AMI {ami} is {state} in {region} and no good build remains"))
    return record


def _parameters(world: World, preset: str, record: AmiState, out: list[Instruction]) -> None:
    regions: list[str] = []
    keys: set[str] = set()
    for region in world.regions:
        current = world.parameters.get((region, preset))
        try:
            desired = desired_value(record, region, world.home_region, current)
        except InvalidConfig as exc:
            out.append(Problem(preset, f"parameter in {region}: {exc}"))
            continue
        if desired is not None and desired != current:
            regions.append(region)
            keys.update(drift(current, desired))
    if regions:
        out.append(Converge(preset, tuple(regions), tuple(sorted(keys))))


def _protected(
    world: World, record: AmiState, history: Iterable[BuildRecord]
) -> Iterable[tuple[str, str]]:
    home = world.home_region
    previous = [b for b in good_builds(history) if b.build_id != record.ami_build_id]
    for region in world.regions:
        amis = [record.ami_for(region, home), record.latest_ami_for(region, home)]
        amis += [b.ami_for(region, home) for b in previous[:PROTECTED_PREVIOUS]]
        for ami in amis:
            if ami is not None and world.images.get((region, ami), "missing") != "missing":
                yield region, ami


__all__ = [
    "Converge",
    "FallBack",
    "Feed",
    "Instruction",
    "Plan",
    "Problem",
    "Tag",
    "Trim",
    "Untag",
    "World",
    "event_of",
    "plan",
]
