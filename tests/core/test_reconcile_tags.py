"""The planner's in-use tags: this deployment's keys, this run's presets (docs/operations.md).

Each case plans from a world, then applies the plan's tag instructions to the
tags it read and plans again: a second run must plan no tag change.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from attrs import evolve

from amistate.core import rules
from amistate.core.amis import Amis, Place
from amistate.core.in_use import LEGACY_KEY, InUseKeys
from amistate.core.state import AmiState, Pin
from amistate.ports.inventory import BuildSummary, ImageState
from amistate.usecases.reconcile.plan import Plan, Tag, Untag, World, event_of, plan
from tests.core.test_reconcile_plan import KEYS, protected, record_after, summary, value, world
from tests.core.world import CONFIG, PIPELINE, PRESET, REGION, T0, ami_for, build_arn

OTHER = "linux-x64-large"
EU = "eu-west-1"

TagMap = Mapping[str, Mapping[str, str]]


def tag_changes(found: Plan) -> set[Tag | Untag]:
    return {i for i in found.instructions if isinstance(i, Tag | Untag)}


def applied(world: World, found: Plan) -> World:
    """``world`` with the plan's tag instructions carried out (as EC2 would)."""
    tags = {
        region: {ami: dict(t) for ami, t in amis.items()} for region, amis in world.tags.items()
    }
    for change in tag_changes(found):
        region = tags.setdefault(change.place, {})
        for ami in change.ami_ids:
            if isinstance(change, Tag):
                region.setdefault(ami, {}).update(change.tags)
            else:
                for key in change.keys:
                    region.get(ami, {}).pop(key, None)
    return evolve(world, tags={r: {a: t for a, t in amis.items() if t} for r, amis in tags.items()})


def settled(world: World) -> TagMap:
    """Plan, apply, plan again: no tag change left. The home region's tags after."""
    after = applied(world, plan(world))
    assert tag_changes(plan(after)) == set()
    return after.tags.get(Place(REGION), {})


def five_builds() -> AmiState:
    """Builds 1-5, all good: the AMI is 5's; 4 and 3 are the previous good ones."""
    return record_after(*(summary(n) for n in range(1, 6)))


# --- which AMIs -------------------------------------------------------------------------------


def test_while_pinned_the_newest_good_ami_stays_protected_for_the_unpin() -> None:
    record = evolve(five_builds(), pin=Pin(build_arn(1), Amis.of({REGION: ami_for(1)}, REGION)))
    tags = settled(world(record, (), value(ami_for(1))))
    assert tags == {ami_for(n): protected(PRESET) for n in (1, 5, 4, 3)}


def test_a_deleted_preset_needs_nothing_and_a_full_run_releases_what_it_alone_needed() -> None:
    live = five_builds()
    gone = evolve(
        live,
        preset=OTHER,
        pipeline_arn=None,
        pin=Pin(build_arn(1), Amis.of({REGION: ami_for(1)}, REGION)),
    )
    tagged = {
        ami_for(1): protected(OTHER),
        **{ami_for(n): protected(PRESET, OTHER) for n in (3, 4, 5)},
    }
    full = evolve(
        world(live, (), value(ami_for(5)), tagged=tagged), records={PRESET: live, OTHER: gone}
    )
    assert tag_changes(plan(full)) == {
        Tag(REGION, (ami_for(3), ami_for(4), ami_for(5)), PRESET, KEYS),
        Untag(REGION, (ami_for(1),), KEYS.owned),
    }
    assert settled(full) == {ami_for(n): protected(PRESET) for n in (3, 4, 5)}


# --- a run over some presets --------------------------------------------------------------------


def test_a_run_over_some_presets_adds_and_removes_only_their_names() -> None:
    tagged = {
        ami_for(1): protected(PRESET, OTHER),  # PRESET needs it no more; OTHER may
        ami_for(2): protected(OTHER),  # not this run's to judge
        ami_for(5): protected(OTHER),  # PRESET joins
        ami_for(4): protected(PRESET),  # already right
    }
    some = evolve(
        world(five_builds(), (), value(ami_for(5)), tagged=tagged), scope=frozenset({PRESET})
    )
    assert tag_changes(plan(some)) == {
        Tag(REGION, (ami_for(3),), PRESET, KEYS),
        Tag(REGION, (ami_for(5),), f"{PRESET},{OTHER}", KEYS),
        Tag(REGION, (ami_for(1),), OTHER, KEYS),
    }
    assert settled(some)[ami_for(2)] == protected(OTHER)
    # A run over every preset recomputes: OTHER has no record, so it needs nothing.
    everything = evolve(some, scope=None)
    assert settled(everything) == {ami_for(n): protected(PRESET) for n in (3, 4, 5)}


def test_a_run_over_some_presets_releases_only_a_complete_list_left_empty() -> None:
    cut = {KEYS.protect: "true", KEYS.presets: f"{PRESET},+"}  # more presets than fit
    unnamed = {KEYS.protect: "true"}  # protected, presets tag lost
    tagged = {
        ami_for(1): protected(PRESET),
        ami_for(2): cut,
        ami_for(6): unnamed,
        **{ami_for(n): protected(PRESET) for n in (3, 4, 5)},
    }
    some = evolve(
        world(five_builds(), (), value(ami_for(5)), tagged=tagged), scope=frozenset({PRESET})
    )
    assert tag_changes(plan(some)) == {
        Untag(REGION, (ami_for(1),), KEYS.owned),
        Tag(REGION, (ami_for(2),), "+", KEYS),
    }
    tags = settled(some)
    assert (tags[ami_for(2)], tags[ami_for(6)]) == ({**cut, KEYS.presets: "+"}, unnamed)
    assert ami_for(6) not in settled(evolve(some, scope=None))


# --- whose keys -------------------------------------------------------------------------------


def test_another_deployments_keys_and_values_are_never_planned() -> None:
    theirs = InUseKeys.of("prod")
    foreign = {theirs.protect: "true", theirs.presets: PRESET}
    tagged = {ami_for(1): foreign, ami_for(5): {**foreign, **protected(PRESET)}}
    tags = settled(world(five_builds(), (), value(ami_for(5)), tagged=tagged))
    assert tags[ami_for(1)] == foreign
    assert tags[ami_for(5)] == {**foreign, **protected(PRESET)}


def test_the_legacy_key_goes_only_from_the_amis_this_deployment_now_protects() -> None:
    legacy = {LEGACY_KEY: PRESET}
    tagged = {ami_for(1): legacy, ami_for(4): legacy, ami_for(5): {**legacy, **protected(PRESET)}}
    found = plan(world(five_builds(), (), value(ami_for(5)), tagged=tagged))
    assert tag_changes(found) == {
        Tag(REGION, (ami_for(3), ami_for(4)), PRESET, KEYS),
        Untag(REGION, (ami_for(4), ami_for(5)), (LEGACY_KEY,)),
    }
    tags = settled(world(five_builds(), (), value(ami_for(5)), tagged=tagged))
    assert tags[ami_for(1)] == legacy


# --- two regions -------------------------------------------------------------------------------


def _two_region_summary(build: int) -> BuildSummary:
    amis = Amis.of({REGION: ami_for(build), EU: ami_for(build, patch=1)})
    return BuildSummary(build_arn(build), "AVAILABLE", T0 + timedelta(hours=build), amis)


def test_each_region_protects_that_regions_amis() -> None:
    record = AmiState(preset=PRESET, config=dict(CONFIG), pipeline_arn=PIPELINE)
    for n in range(1, 5):
        build = _two_region_summary(n)
        attempted = rules.transition_for(event_of(build, PIPELINE), build.amis.with_home(REGION))
        decision = rules.decide(record, attempted)
        assert isinstance(decision, rules.Apply)
        record = decision.transition.apply(record, PRESET)
    record = evolve(
        record,
        pin=Pin(build_arn(1), Amis.of({REGION: ami_for(1), EU: ami_for(1, patch=1)}, REGION)),
    )
    base = world(record, (), value(ami_for(1)))
    images: dict[tuple[Place, str], ImageState] = {
        (Place(EU), ami_for(n, patch=1)): "available" for n in range(1, 5)
    }
    two = evolve(base, regions=(REGION, EU), images={**base.images, **images})
    after = applied(two, plan(two))
    assert tag_changes(plan(after)) == set()
    assert after.tags[Place(REGION)] == {ami_for(n): protected(PRESET) for n in (1, 4, 3, 2)}
    assert after.tags[Place(EU)] == {ami_for(n, patch=1): protected(PRESET) for n in (1, 4, 3, 2)}
