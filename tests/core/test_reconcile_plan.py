"""The reconcile planner: a world in, the instructions that converge it out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta

from attrs import evolve

from amistate import rules
from amistate.events import RegionalAmi
from amistate.in_use import InUseKeys, presets_value
from amistate.inventory import BuildSummary, ImageState
from amistate.reconcile.plan import (
    Converge,
    FallBack,
    Feed,
    Problem,
    Tag,
    Trim,
    Untag,
    World,
    event_of,
    plan,
)
from amistate.state import AmiState, BuildRecord, Pin
from tests.core.world import CONFIG, PIPELINE, PRESET, REGION, T0, ami_for, build_arn

KEYS = InUseKeys.of("us-west-2/spot-runner")


def protected(*presets: str) -> dict[str, str]:
    """The tags of an AMI this deployment protects for ``presets``."""
    return {KEYS.protect: "true", KEYS.presets: presets_value(presets)}


def summary(build: int, status: str = "AVAILABLE") -> BuildSummary:
    amis = (RegionalAmi(REGION, ami_for(build)),) if status == "AVAILABLE" else ()
    return BuildSummary(
        arn=build_arn(build), status=status, created=T0 + timedelta(hours=build), amis=amis
    )


def record_after(*builds: BuildSummary) -> AmiState:
    """The record the events of ``builds`` leave (applied in order through the rules)."""
    record = AmiState(preset=PRESET, config=dict(CONFIG), pipeline_arn=PIPELINE)
    for build in builds:
        event = event_of(build, PIPELINE)
        attempted = rules.transition_for(
            event,
            ami_for(int(build.arn.rsplit("/", 1)[1])) if build.amis else None,
            {REGION: build.amis[0].ami_id} if build.amis else {},
        )
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
) -> World:
    known = {(REGION, a): s for a, s in (images or {}).items()}
    made = [e.ami_id for e in record.history.values()] + [a.ami_id for b in listed for a in b.amis]
    for ami in made:
        if ami is not None:
            known.setdefault((REGION, ami), "available")
    return World(
        home_region=REGION,
        regions=(REGION,),
        records={PRESET: record},
        keys=KEYS,
        builds={PIPELINE: listed},
        parameters={(REGION, PRESET): parameter},
        images=known,
        tags={REGION: dict(tagged or {})},
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
    attempted = rules.transition_for(event_of(build, PIPELINE), None, {})
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
    record = evolve(record, pin=Pin(build_arn(1), ami_for(1)))
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


def test_history_beyond_the_limit_is_trimmed_oldest_first() -> None:
    builds = [summary(n) for n in range(1, 6)]
    record = record_after(*builds)
    found = plan(world(record, (), value(ami_for(5)), tagged=settled_tags(record), limit=3))
    (trim,) = [i for i in found.instructions if isinstance(i, Trim)]
    assert [rules.key_time(k) for k in trim.keys] == [
        T0 + timedelta(hours=2),
        T0 + timedelta(hours=1),
    ]


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
