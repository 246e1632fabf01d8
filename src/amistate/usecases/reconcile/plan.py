"""The reconcile planner: what one run read in, frozen instructions out. Pure.

A Kubernetes-style resync: compare the desired state with the world and list
what would make them agree. Reading and writing live in
:mod:`amistate.usecases.reconcile.run`; this module only decides, so a dry run is the
same plan printed instead of executed.

Per preset, in order (each step plans against the record as the steps before
it would leave it):

1. **Builds lost in delivery.** Every terminal build of the preset's pipeline
   that the ordering rules would apply (or that its history lacks) is fed
   through the service exactly as its event would have been.
2. **Promotion.** A waiting candidate whose rollout is due (``soak`` passed
   since its build completed, at the run's ``now``; a policy changed to
   ``immediate``) goes live (:func:`amistate.core.rollout.due`).
3. **Candidates that vanished.** A waiting candidate with an AMI gone for good
   (:mod:`~amistate.usecases.reconcile.candidates`: deregistered, failed or
   missing) in a region of ours, or a copy gone in a target account, is
   rejected (:class:`Withdraw`): canary runners read its AMI from the
   parameter (``candidateAmiId``), and it must never go live. An AMI that may
   still come (``pending``) or back (``disabled``) is left alone. A due
   candidate went live in step 2 (as the service's own converge makes it):
   step 4 falls back from it.
4. **AMIs that vanished.** If the AMI a parameter should hold is not
   launchable (in a region of ours, or a target account's copy there), fall
   back to the newest good build whose AMIs all are, in every region and in
   every target account where the live build has a copy (the AMI register
   takes its ordering key): a preset's places hold one build. A pinned AMI is
   never replaced, only reported.
5. **SSM.** Every region's parameter, ours and each target account's, must
   equal its desired value (:func:`amistate.core.desired.parameter_value`;
   an account the live build has no copy for keeps its AMI), and the plain
   AMI parameter, if the preset names one, the AMI
   (:mod:`amistate.usecases.ami_parameter`).
6. **History.** Beyond the limit, forget what :func:`amistate.core.builds.forgotten`
   says (failures first, never a build amistate still needs); a listed build
   the trim would forget is not fed in the first place.
7. **In-use tags** (per region of ours and of each target account, across
   presets): the AMI in use, the pin, the newest good one, the waiting
   candidate and the previous good ones (in a target account, their copies
   there) carry this deployment's in-use tags, naming the presets that need
   them (:mod:`amistate.usecases.reconcile.tags`). A preset no longer
   registered to a pipeline (its custom resource was deleted) needs nothing
   any more.

A target account the run could not read (:class:`Unreachable`) is left out of
every step: nothing is judged vanished, drifting or untagged there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from attrs import evolve, field, frozen

from amistate.core import rules
from amistate.core.amis import Place
from amistate.core.arns import parse_build_arn
from amistate.core.builds import TrimBasis, forgotten, good_builds, previous_good
from amistate.core.desired import desired_value, drift
from amistate.core.events import BuildEvent
from amistate.core.in_use import InUseKeys
from amistate.core.state import AmiState
from amistate.errors import InvalidConfig, NoAmiForRegion
from amistate.ports import Parameter
from amistate.ports.inventory import LAUNCHABLE, BuildSummary, ImageState
from amistate.usecases import ami_parameter
from amistate.usecases.reconcile.candidates import promote_due, withdraw_vanished
from amistate.usecases.reconcile.instructions import (
    Converge,
    FallBack,
    Feed,
    Instruction,
    Plan,
    Problem,
    Promote,
    Trim,
    Unreachable,
    Withdraw,
)
from amistate.usecases.reconcile.tags import Tag, Tags, Untag, tag_instructions


@frozen
class World:
    """Everything one run read, keyed for lookup; missing keys mean "not read"."""

    home_region: str
    regions: tuple[str, ...]
    records: Mapping[str, AmiState]
    keys: InUseKeys  # this deployment's in-use tag keys
    builds: Mapping[str, tuple[BuildSummary, ...]] = field(factory=dict)  # by pipeline
    #: (place, preset) -> the parameter's value (our regions', each target account's)
    parameters: Mapping[tuple[Place, str], str | None] = field(factory=dict)
    #: (place, preset) -> the preset's plain AMI parameter (presets that name one)
    ami_parameters: Mapping[tuple[Place, str], Parameter | None] = field(factory=dict)
    images: Mapping[tuple[Place, str], ImageState] = field(factory=dict)  # (place, AMI)
    tags: Tags = field(factory=dict)  # place -> AMI -> {key: value} of keys.read
    history_limit: int = 20
    #: The presets this run reconciles; None: all of them (``records`` holds every one).
    scope: frozenset[str] | None = None
    #: When the run read the world: what a soak is measured against (None: no soak is due).
    now: datetime | None = None
    #: The target accounts the run read (every one a preset in scope lists, but those
    #: it could not reach: ``unreachable``, account -> why).
    accounts: tuple[str, ...] = ()
    unreachable: Mapping[str, str] = field(factory=dict)

    def places(self, record: AmiState | None = None) -> tuple[Place, ...]:
        """Our regions, then each target account's the run read (``record``'s only)."""
        listed = self.accounts if record is None else record.target_accounts
        accounts = [a for a in listed if a in self.accounts]
        return tuple(Place(r, a) for a in (None, *accounts) for r in self.regions)


def plan(world: World) -> Plan:
    """The instructions that converge ``world`` on its desired state."""
    out: list[Instruction] = []
    needed: dict[Place, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for preset in sorted(world.records):
        record = _preset(world, preset, out)
        if record.pipeline_arn is None:
            continue  # unregistered: its custom resource was deleted
        for place, ami in _protected(world, record):
            needed[place][ami].add(preset)
    out.extend(_shared(world.records))
    out.extend(Unreachable(a, why) for a, why in sorted(world.unreachable.items()))
    out.extend(tag_instructions(world.places(), _taggable(world), needed, world.keys, world.scope))
    return Plan(tuple(out))


#: AMI states whose tags no run can change: gone, or deregistered (EC2 may still list it,
#: with its tags, for a while). Such an AMI is neither tagged nor untagged.
UNTAGGABLE: frozenset[str] = frozenset({"missing", "deregistered"})


def _taggable(world: World) -> Tags:
    """The tags read, but those of an AMI whose tags no run can change (:data:`UNTAGGABLE`:
    it vanishes with them)."""
    return {
        place: {
            ami: tags
            for ami, tags in found.items()
            if world.images.get((place, ami)) not in UNTAGGABLE
        }
        for place, found in world.tags.items()
    }


@frozen
class _Seen:
    """A listed build the record's history lacks, and whether it changes a register."""

    feed: Feed
    key: str
    applied: bool


def _preset(world: World, preset: str, out: list[Instruction]) -> AmiState:
    """One preset's instructions; the record as they leave it (history trimmed).

    A build that changes no register is fed only if the trim would keep it,
    and the trim is planned after the fallback (which changes what it keeps),
    so the next run finds the same history and plans nothing.
    """
    record, seen = _builds(world, preset, world.records[preset], out)
    fallback: list[Instruction] = []
    record = promote_due(world, preset, record, fallback)
    record = withdraw_vanished(world, preset, record, fallback)
    record = _vanished(world, preset, record, fallback)
    gone = forgotten(record, world.history_limit)
    unfed = {s.key for s in seen if not s.applied and s.key in gone}
    out.extend(s.feed for s in seen if s.key not in unfed)
    out.extend(fallback)
    _parameters(world, preset, record, out)
    trimmed = tuple(key for key in gone if key not in unfed)
    if trimmed:
        out.append(Trim(preset, trimmed, TrimBasis.of(record)))
    return evolve(record, history={k: b for k, b in record.history.items() if k not in gone})


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
) -> tuple[AmiState, list[_Seen]]:
    """The record after the listed builds its history lacks (each in its history,
    as the service keeps it), and those builds, oldest first."""
    pipeline = record.pipeline_arn
    if pipeline is None:
        return record, []
    seen: list[_Seen] = []
    for build in sorted(world.builds.get(pipeline, ()), key=lambda b: b.created):
        if rules.classify(build.status) is None:
            continue
        event = event_of(build, pipeline)
        if rules.ordering_key(event) in record.history:
            continue  # the record has seen it (applied, or kept as stale)
        try:
            attempted = rules.attempt(event, world.home_region, world.regions, f"preset {preset}")
        except NoAmiForRegion as exc:
            out.append(Problem(preset, str(exc)))
            continue
        attempted = evolve(attempted, amis=attempted.amis.trusted(record.target_accounts))
        decision = rules.decide(record, attempted)
        if isinstance(decision, rules.Apply):
            record = decision.transition.apply(record, preset)
        else:
            record = evolve(record, history={**record.history, attempted.key: attempted.entry})
        applied = isinstance(decision, rules.Apply)
        seen.append(_Seen(Feed(preset, pipeline, build), attempted.key, applied))
    return record, seen


def _launchable(world: World, place: Place, ami: str | None) -> bool:
    return ami is not None and world.images.get((place, ami), "missing") in LAUNCHABLE


def _vanished(world: World, preset: str, record: AmiState, out: list[Instruction]) -> AmiState:
    """Fall back from an AMI that is not launchable, wherever it should be used.

    The places checked are every region of ours and every region of a target
    account where the live build has a copy (an account it has none for keeps
    its previous AMI, which no record names). A fallback build must be
    launchable in all of them, so every account moves to the same build, and in
    every place where it has a copy itself, or the next run would fall back from it."""
    places = [
        p
        for p in world.places(record)
        if p.account is None or record.ami_for(p.region, account=p.account) is not None
    ]
    gone = [
        (place, ami)
        for place in places
        if (ami := record.ami_for(place.region, account=place.account)) is not None
        and not _launchable(world, place, ami)
    ]
    if not gone:
        return record
    place, ami = gone[0]
    state = world.images.get((place, ami), "missing")
    if record.pin is not None:
        out.append(Problem(preset, f"pinned AMI {ami} is {state} in {place}: pin another"))
        return record
    for build in good_builds(record.history.values()):
        copies = [p for p in world.places(record) if build.amis.at(p.region, p.account)]
        needed = dict.fromkeys([*places, *copies])
        if all(_launchable(world, p, build.amis.at(p.region, p.account)) for p in needed):
            out.append(FallBack(preset, ami, state, build))
            return record.with_live(build.build_id, build.key, build.amis, build.updated_at)
    out.append(Problem(preset, f"AMI {ami} is {state} in {place} and no good build remains"))
    return record


def _parameters(world: World, preset: str, record: AmiState, out: list[Instruction]) -> None:
    """One Converge per account (ours first) whose parameters differ somewhere; one
    for the record alone when the accounts it says are behind are not those a
    converge would leave behind (:func:`_behind`)."""
    by_account: dict[str | None, tuple[list[str], set[str]]] = {}
    for place in world.places(record):
        regions, keys = by_account.setdefault(place.account, ([], set()))
        current = world.parameters.get((place, preset))
        try:
            desired = desired_value(record, place.region, current, account=place.account)
        except InvalidConfig as exc:
            out.append(Problem(preset, f"parameter in {place}: {exc}"))
            continue
        if desired is not None and desired != current:
            regions.append(place.region)
            keys.update(drift(current, desired))
        if _ami_parameter(world, preset, record, place, keys, out):
            regions.append(place.region)
    converges = [
        Converge(preset, tuple(dict.fromkeys(regions)), tuple(sorted(keys)), account)
        for account, (regions, keys) in by_account.items()
        if regions
    ]
    if not converges and _behind(world, record):
        converges.append(Converge(preset, (), (BEHIND,)))
    out.extend(converges)


#: A Converge's key when only the record's ``accountsBehind`` is out of date.
BEHIND = "accountsBehind"


def _behind(world: World, record: AmiState) -> bool:
    """True if ``record.behind`` names other accounts than a converge would leave
    behind now: among the accounts read, those the live build has no copy for
    (an account the run could not read is judged by the converge itself; one the
    preset no longer lists is behind no more)."""
    if record.ami_for(world.home_region) is None:
        return False  # a converge writes nothing yet, nor the record
    read = {a for a in record.target_accounts if a in world.accounts}
    regions = world.regions
    expected = {a for a in read if any(record.ami_for(r, account=a) is None for r in regions)}
    said = {a for a in record.behind if a in read or a not in record.target_accounts}
    return said != expected


def _ami_parameter(
    world: World,
    preset: str,
    record: AmiState,
    place: Place,
    keys: set[str],
    out: list[Instruction],
) -> bool:
    """True if the plain AMI parameter differs in ``place`` (its name joins ``keys``)."""
    name, ami = record.ami_parameter, record.ami_for(place.region, account=place.account)
    if name is None or ami is None:
        return False
    try:
        differs = ami_parameter.drift(name, world.ami_parameters.get((place, preset)), ami)
    except InvalidConfig as exc:
        out.append(Problem(preset, f"AMI parameter in {place}: {exc}"))
        return False
    if differs is not None:
        keys.add(differs)
    return differs is not None


def _shared(records: Mapping[str, AmiState]) -> Iterable[Problem]:
    """Presets naming the same AMI parameter: each write would undo the other's."""
    users: dict[str, list[str]] = defaultdict(list)
    for preset in sorted(records):
        if (name := records[preset].ami_parameter) is not None:
            users[name].append(preset)
    for name, presets in users.items():
        for preset in presets if len(presets) > 1 else ():
            others = ", ".join(p for p in presets if p != preset)
            yield Problem(preset, f"AMI parameter {name} is also named by {others}: name another")


def _protected(world: World, record: AmiState) -> Iterable[tuple[Place, str]]:
    """The AMIs (in a target account: the copies there) the preset may need."""
    previous = previous_good(record)
    for place in world.places(record):
        region, account = place.region, place.account
        amis = [
            record.ami_for(region, account=account),
            record.latest_ami_for(region, account=account),
        ]
        amis += [b.amis.at(region, account) for b in previous]
        if record.waiting is not None:
            amis.append(record.waiting.amis.at(region, account))
        for ami in amis:
            if ami is not None and world.images.get((place, ami), "missing") not in UNTAGGABLE:
                yield place, ami


__all__ = [
    "Converge",
    "FallBack",
    "Feed",
    "Instruction",
    "Plan",
    "Problem",
    "Promote",
    "Tag",
    "Trim",
    "Unreachable",
    "Untag",
    "Withdraw",
    "World",
    "event_of",
    "plan",
]
