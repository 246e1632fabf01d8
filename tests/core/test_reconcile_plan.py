"""The reconcile planner: a world in, the instructions that converge it out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta

from attrs import evolve

from amistate.core import rules
from amistate.core.amis import NO_AMIS, Amis, Place
from amistate.core.desired import desired_value
from amistate.core.in_use import InUseKeys, presets_value
from amistate.core.state import AmiState, BuildRecord, Pin, Rollout
from amistate.core.state_parts import Rejection
from amistate.ports.inventory import BuildSummary, ImageState
from amistate.usecases.reconcile.plan import (
    Converge,
    FallBack,
    Feed,
    Plan,
    Problem,
    Promote,
    Tag,
    Trim,
    Untag,
    Withdraw,
    World,
    event_of,
    plan,
)
from tests.core.world import CONFIG, PIPELINE, PRESET, REGION, T0, ami_for, build_arn

KEYS = InUseKeys.of("us-west-2/spot-runner")


def protected(*presets: str) -> dict[str, str]:
    """The tags of an AMI this deployment protects for ``presets``."""
    return {KEYS.protect: "true", KEYS.presets: presets_value(presets)}


EU = "eu-west-1"
TWO = (REGION, EU)


def eu_ami(build: int) -> str:
    return ami_for(build, patch=1)


def summary(
    build: int, status: str = "AVAILABLE", regions: tuple[str, ...] = (REGION,)
) -> BuildSummary:
    amis = NO_AMIS
    if status == "AVAILABLE":
        amis = Amis.of({REGION: ami_for(build)} | ({EU: eu_ami(build)} if EU in regions else {}))
    return BuildSummary(
        arn=build_arn(build), status=status, created=T0 + timedelta(hours=build), amis=amis
    )


def record_after(*builds: BuildSummary) -> AmiState:
    """The record the events of ``builds`` leave (applied in order through the rules)."""
    record = AmiState(preset=PRESET, config=dict(CONFIG), pipeline_arn=PIPELINE)
    for build in builds:
        regions = tuple(build.amis.regional()) or (REGION,)
        attempted = rules.attempt(event_of(build, PIPELINE), REGION, regions, PRESET)
        decision = rules.decide(record, attempted)
        if isinstance(decision, rules.Apply):
            record = decision.transition.apply(record, PRESET)
    return record


def value(ami: str, **extra: object) -> str:
    return json.dumps({**CONFIG, **extra, "amiId": ami})


def world(
    record: AmiState,
    listed: tuple[BuildSummary, ...] = (),
    parameter: str | None = None,
    images: Mapping[str, ImageState] | None = None,
    tagged: Mapping[str, Mapping[str, str]] | None = None,
    limit: int = 20,
    regions: tuple[str, ...] = (REGION,),
    eu_images: Mapping[str, ImageState] | None = None,
) -> World:
    """``images``/``eu_images``: AMI states that differ from "available" (home, eu-west-1)."""
    known = {(Place(REGION), a): s for a, s in (images or {}).items()}
    known |= {(Place(EU), a): s for a, s in (eu_images or {}).items()}
    made = [(p, a) for e in record.history.values() for p, a in e.amis.places.items()]
    made += [(p, a) for b in listed for p, a in b.amis.places.items()]
    for place, ami in made:
        known.setdefault((place, ami), "available")
    return World(
        home_region=REGION,
        regions=regions,
        records={PRESET: record},
        keys=KEYS,
        builds={PIPELINE: listed},
        parameters={(Place(region), PRESET): parameter for region in regions},
        images=known,
        tags={Place(r): dict(tagged or {}) if r == REGION else {} for r in regions},
        history_limit=limit,
    )


def settled_tags(record: AmiState) -> dict[str, dict[str, str]]:
    """The in-use tags a converged world carries (every AMI a plan would tag)."""
    return {
        ami: i.tags
        for i in plan(world(record, parameter=value(record.ami_id or ""))).instructions
        if isinstance(i, Tag)
        for ami in i.ami_ids
    }


def test_a_converged_world_plans_nothing() -> None:
    b1, b2 = summary(1), summary(2)
    record = record_after(b1, b2)
    assert record.ami_id == ami_for(2)
    found = plan(world(record, (b2, b1), value(ami_for(2)), tagged=settled_tags(record)))
    assert found.instructions == ()


def test_a_lost_success_is_fed_and_ssm_converged() -> None:
    b1, b2 = summary(1), summary(2)
    record = record_after(b1)
    found = plan(world(record, (b2, b1), value(ami_for(1)), tagged=settled_tags(record)))
    feeds = [i for i in found.instructions if isinstance(i, Feed)]
    assert [f.build.arn for f in feeds] == [b2.arn]
    assert Converge(PRESET, (REGION,), ("amiId",)) in found.instructions


def test_a_lost_failure_is_fed_and_ssm_left_alone() -> None:
    b1, b2 = summary(1), summary(2, "FAILED")
    record = record_after(b1)
    found = plan(world(record, (b2, b1), value(ami_for(1)), tagged=settled_tags(record)))
    assert [type(i) for i in found.instructions] == [Feed]


def test_non_terminal_builds_are_not_fed() -> None:
    record = record_after(summary(1))
    listed = (summary(2, "BUILDING"), summary(1))
    found = plan(world(record, listed, value(ami_for(1)), tagged=settled_tags(record)))
    assert found.instructions == ()


def test_an_older_build_missing_from_the_history_is_fed_once() -> None:
    b1, b2 = summary(1, "FAILED"), summary(2)
    record = record_after(b2)  # build 1's failure never arrived
    found = plan(world(record, (b2, b1), value(ami_for(2)), tagged=settled_tags(record)))
    assert [f.build.arn for f in found.instructions if isinstance(f, Feed)] == [b1.arn]
    # A stale build changes no register; the service keeps it in the history.
    kept = evolve(record, history={**record.history, **_entry(b1)})
    assert plan(world(kept, (b2, b1), value(ami_for(2)), tagged=settled_tags(kept))).changes == ()


def _entry(build: BuildSummary) -> dict[str, BuildRecord]:
    attempted = rules.transition_for(event_of(build, PIPELINE))
    return {attempted.key: attempted.entry}


def test_a_vanished_ami_falls_back_to_the_newest_good_build_that_exists() -> None:
    b1, b2, b3 = summary(1), summary(2), summary(3)
    record = record_after(b1, b2, b3)
    found = plan(
        world(
            record,
            (b3, b2, b1),
            value(ami_for(3)),
            images={ami_for(3): "missing", ami_for(2): "deregistered"},
        )
    )
    (fallback,) = [i for i in found.instructions if isinstance(i, FallBack)]
    assert (fallback.vanished, fallback.to.ami_id) == (ami_for(3), ami_for(1))
    assert Converge(PRESET, (REGION,), ("amiId",)) in found.instructions


def test_a_vanished_pinned_ami_is_a_problem_never_an_unpin() -> None:
    b1, b2 = summary(1), summary(2)
    record = record_after(b1, b2)
    record = evolve(record, pin=Pin(build_arn(1), Amis.of({REGION: ami_for(1)}, REGION)))
    found = plan(world(record, (b2, b1), value(ami_for(1)), images={ami_for(1): "disabled"}))
    assert [type(i) for i in found.instructions if not isinstance(i, Tag | Untag)] == [Problem]
    assert "pinned" in found.problems[0].text


def test_config_drift_is_converged_with_the_keys_named() -> None:
    record = evolve(record_after(summary(1)), retired_keys=("gone",))
    stale = value(ami_for(1), gone="secret", timeout=1)
    found = plan(world(record, (summary(1),), stale, tagged=settled_tags(record)))
    assert found.instructions == (Converge(PRESET, (REGION,), ("gone", "timeout")),)


def test_a_parameter_that_is_not_json_is_a_problem() -> None:
    record = record_after(summary(1))
    found = plan(world(record, (summary(1),), "a,b,c", tagged=settled_tags(record)))
    assert [type(i) for i in found.instructions] == [Problem]


def test_the_ami_in_use_and_two_previous_good_ones_are_tagged_and_older_ones_untagged() -> None:
    builds = [summary(n) for n in range(1, 6)]
    record = record_after(*builds)
    found = plan(world(record, (), value(ami_for(5)), tagged={ami_for(1): protected(PRESET)}))
    (tag,) = [i for i in found.instructions if isinstance(i, Tag)]
    assert set(tag.ami_ids) == {ami_for(5), ami_for(4), ami_for(3)}
    assert tag.tags == protected(PRESET)
    assert Untag(REGION, (ami_for(1),), KEYS.owned) in found.instructions


def test_presets_values_fit_ec2s_limit_and_say_when_cut() -> None:
    assert presets_value(["b", "a", "b"]) == "a,b"
    many = [f"preset-{n:03d}" for n in range(60)]
    cut = presets_value(many)
    assert len(cut) <= 256
    assert cut.endswith(",+")
    assert cut.split(",")[:-1] == many[: cut.count(",")]
    assert presets_value(["a" * 128, "b" * 128]) == "a" * 128 + ",+"
    assert presets_value(["a"], complete=False) == "a,+"
    assert presets_value([], complete=False) == "+"


def test_a_build_the_history_holds_is_never_reported_again() -> None:
    """A region added later: old builds lack its AMI, but they are history, not problems."""
    b1, b2 = summary(1), summary(2)
    record = record_after(b1, b2)
    two_regions = evolve(
        world(record, (b2, b1), value(ami_for(2)), tagged=settled_tags(record)),
        regions=(REGION, "eu-west-1"),
    )
    assert plan(two_regions).problems == ()
    b3 = summary(3)  # a new build without the new region's AMI is a problem
    assert len(plan(evolve(two_regions, builds={PIPELINE: (b3, b2, b1)})).problems) == 1


# --- what the history keeps, the fallback's choice, and a second run (issue 20) ---------------


def carried_out(before: World, found: Plan) -> World:
    """The world after ``found`` is carried out, as the run and the stores would."""
    records = dict(before.records)
    parameters = dict(before.parameters)
    tags = {region: dict(amis) for region, amis in before.tags.items()}
    for i in found.changes:
        if isinstance(i, Feed):
            record = records[i.preset]
            event = event_of(i.build, i.pipeline_arn)
            attempted = rules.attempt(event, before.home_region, before.regions, i.preset)
            decision = rules.decide(record, attempted)
            if isinstance(decision, rules.Apply):
                record = decision.transition.apply(record, i.preset)
            else:
                record = evolve(record, history={**record.history, attempted.key: attempted.entry})
            records[i.preset] = record
        elif isinstance(i, FallBack):
            to = i.to
            records[i.preset] = evolve(
                records[i.preset],
                amis=to.amis,
                ami_key=to.key,
                ami_build_id=to.build_id,
                ami_updated_at=to.updated_at,
            )
        elif isinstance(i, Withdraw):
            record = records[i.preset]
            entry = record.history[i.candidate.key]
            rejected = evolve(entry, rejection=Rejection(T0, "withdrawn"))
            history = {**record.history, i.candidate.key: rejected}
            records[i.preset] = evolve(record, candidate=None, history=history)
        elif isinstance(i, Trim):
            record = records[i.preset]
            assert i.basis.holds_for(record)
            history = {k: b for k, b in record.history.items() if k not in i.keys}
            records[i.preset] = evolve(record, history=history)
        elif isinstance(i, Converge):
            for region in i.regions:
                place = Place(region, i.account)
                current = parameters.get((place, i.preset))
                record = records[i.preset]
                parameters[(place, i.preset)] = desired_value(
                    record, region, current, account=i.account
                )
        elif isinstance(i, Tag):
            for ami in i.ami_ids:
                tags[i.place][ami] = {**tags[i.place].get(ami, {}), **i.tags}
        else:
            assert isinstance(i, Untag)
            for ami in i.ami_ids:
                kept = {k: v for k, v in tags[i.place][ami].items() if k not in i.keys}
                tags[i.place][ami] = kept
    return evolve(before, records=records, parameters=parameters, tags=tags)


def settle(start: World) -> tuple[Plan, World]:
    """One run's plan and the world after it; a second run must plan nothing."""
    found = plan(start)
    after = carried_out(start, found)
    again = plan(after)
    assert again.changes == (), again.changes
    return found, after


def _statuses(record: AmiState) -> list[tuple[int, str]]:
    return [(int(b.build_id.rsplit("/", 1)[1]), b.status) for b in record.builds()]


def test_a_history_exactly_at_its_limit_plans_no_trim() -> None:
    builds = [summary(1), summary(2, "FAILED"), summary(3)]
    record = record_after(*builds)
    found = plan(world(record, (), value(ami_for(3)), tagged=settled_tags(record), limit=3))
    assert found.instructions == ()


def test_beyond_the_limit_failures_go_first_and_needed_builds_stay() -> None:
    """Before: the newest N stayed whatever their status; here no good build would."""
    listed = (summary(1), summary(2), *(summary(n, "FAILED") for n in range(3, 9)))
    record = record_after(*listed)
    found, after = settle(world(record, listed[::-1], value(ami_for(2)), limit=3))
    (trim,) = [i for i in found.instructions if isinstance(i, Trim)]
    assert [rules.key_time(k) for k in trim.keys] == [T0 + timedelta(hours=n) for n in range(3, 8)]
    # the AMI in use, the previous good build, and the newest build (the status register)
    assert _statuses(after.records[PRESET]) == [(8, "failed"), (2, "ready"), (1, "ready")]
    protecting = {ami for ami, tags in after.tags[Place(REGION)].items() if KEYS.protect in tags}
    assert protecting == {ami_for(1), ami_for(2)}


def test_needed_builds_stay_even_above_the_limit_and_nothing_is_planned_again() -> None:
    builds = [summary(n) for n in range(1, 5)]
    record = evolve(
        record_after(*builds), pin=Pin(build_arn(1), Amis.of({REGION: ami_for(1)}, REGION))
    )
    # the AMI in use (4), two previous good builds (3, 2) and the pin (1): all needed
    found, after = settle(world(record, (), value(ami_for(1)), limit=1))
    assert not any(isinstance(i, Trim) for i in found.instructions)
    assert len(after.records[PRESET].history) == 4


def test_a_listed_build_the_trim_would_drop_is_not_fed() -> None:
    """An older failure missing from a full history would be fed, then trimmed, every run."""
    listed = (summary(1, "FAILED"), summary(2), summary(3, "FAILED"), summary(4))
    record = record_after(*listed[1:])
    found, after = settle(world(record, listed[::-1], value(ami_for(4)), limit=3))
    assert not any(isinstance(i, Feed | Trim) for i in found.instructions)
    assert _statuses(after.records[PRESET]) == [(4, "ready"), (3, "failed"), (2, "ready")]


def test_the_fallback_checks_every_region_and_takes_its_builds_key() -> None:
    """Build 3's AMI vanished in eu-west-1 only, build 2's too: build 1 is the one whole
    in both regions (a check of the home region alone would pick 3, or 2)."""
    listed = tuple(summary(n, regions=TWO) for n in (1, 2, 3))
    record = record_after(*listed)
    eu_gone: dict[str, ImageState] = {eu_ami(3): "missing", eu_ami(2): "disabled"}
    start = world(record, listed[::-1], None, regions=TWO, eu_images=eu_gone)
    found, after = settle(start)
    (fallback,) = [i for i in found.instructions if isinstance(i, FallBack)]
    assert (fallback.vanished, fallback.to.build_id) == (eu_ami(3), build_arn(1))
    fell = after.records[PRESET]
    assert (fell.ami_build_id, fell.ami_key) == (build_arn(1), fallback.to.key)
    for region, ami in ((REGION, ami_for(1)), (EU, eu_ami(1))):
        assert json.loads(after.parameters[(Place(region), PRESET)] or "{}")["amiId"] == ami


def test_after_a_fallback_a_lost_build_between_is_fed_and_becomes_the_ami() -> None:
    b1, b2, b3 = summary(1), summary(2), summary(3)
    record = record_after(b1, b3)  # build 2's event was lost
    start = world(record, (b3, b1), value(ami_for(3)), images={ami_for(3): "missing"})
    _, fell = settle(start)
    assert fell.records[PRESET].ami_id == ami_for(1)
    images: dict[tuple[Place, str], ImageState] = {
        **fell.images,
        (Place(REGION), ami_for(2)): "available",
    }
    found, after = settle(evolve(fell, builds={PIPELINE: (b3, b2, b1)}, images=images))
    assert [i.build.arn for i in found.instructions if isinstance(i, Feed)] == [b2.arn]
    assert after.records[PRESET].ami_id == ami_for(2)
    # the vanished build stays in the history (so its late event stays stale)
    assert (3, "ready") in _statuses(after.records[PRESET])


def test_a_due_candidate_is_promoted_and_a_young_one_waits() -> None:
    soak = evolve(record_after(), rollout=Rollout("soak", timedelta(hours=6)))
    record = soak
    for build in (summary(1), summary(2)):  # build 2 completes at T0 + 2 h and waits
        attempted = rules.attempt(event_of(build, PIPELINE), REGION, (REGION,), PRESET)
        decision = rules.decide(record, attempted)
        assert isinstance(decision, rules.Apply)
        record = decision.transition.apply(record, PRESET)
    waiting = record.waiting
    assert waiting is not None and record.ami_id == ami_for(1)
    shown = value(ami_for(1), candidateAmiId=ami_for(2))
    young = evolve(world(record, parameter=shown), now=T0 + timedelta(hours=7, minutes=59))
    assert [i for i in plan(young).instructions if isinstance(i, Promote | Converge)] == []
    tags = [i for i in plan(young).instructions if isinstance(i, Tag)]
    assert ami_for(2) in {a for t in tags for a in t.ami_ids}  # the candidate is protected
    old = evolve(young, now=T0 + timedelta(hours=8))
    found = plan(old).instructions
    assert Promote(PRESET, waiting) in found
    assert Converge(PRESET, (REGION,), ("amiId", "candidateAmiId")) in found


def test_a_deregistered_ami_is_neither_tagged_nor_untagged() -> None:
    """EC2 may still list a deregistered AMI, with its tags, but no run can change them:
    a pinned one that still carries its in-use tags plans no Tag, and one no preset needs
    any more plans no Untag (either would be planned again by every run)."""
    b1, b2 = summary(1), summary(2)
    record = record_after(b1, b2)
    pinned = evolve(record, pin=Pin(build_arn(1), Amis.of({REGION: ami_for(1)}, REGION)))
    tags = settled_tags(pinned)
    assert ami_for(1) in tags  # what the pinned AMI carried before it was deregistered
    start = world(pinned, (b2, b1), value(ami_for(1)), images={ami_for(1): "deregistered"})
    touched = plan(evolve(start, tags={Place(REGION): dict(tags)})).instructions
    assert not [i for i in touched if isinstance(i, Tag | Untag) and ami_for(1) in i.ami_ids]
    unpinned = world(record, (b2, b1), value(ami_for(2)), images={ami_for(1): "deregistered"})
    stale = plan(evolve(unpinned, tags={Place(REGION): dict(tags)})).instructions
    assert not [i for i in stale if isinstance(i, Tag | Untag) and ami_for(1) in i.ami_ids]
