"""The reconcile planner over target accounts (issue 22, point 4): each account's
parameter, its copies and its in-use tags are planned per place, like ours."""

from __future__ import annotations

import json
from collections.abc import Mapping

from attrs import evolve

from amistate.core.amis import Amis, Place
from amistate.core.state import AmiState, Pin
from amistate.ports.inventory import BuildSummary, ImageState
from amistate.usecases.reconcile.plan import (
    Converge,
    FallBack,
    Problem,
    Tag,
    Unreachable,
    World,
    plan,
)
from tests.core.test_reconcile_plan import (
    protected,
    record_after,
    settle,
    settled_tags,
    summary,
    value,
    world,
)
from tests.core.world import PRESET, REGION, ami_for, build_arn

TARGET, UNLISTED = "444455556666", "999900001111"
THERE = Place(REGION, TARGET)


def copy(n: int, account: str = TARGET) -> str:
    """Build ``n``'s copy in ``account``."""
    return f"ami-{n:09x}{account[:8]}"


def copied(n: int, accounts: tuple[str, ...] = (TARGET,)) -> BuildSummary:
    """Build ``n`` with a copy in each of ``accounts``."""
    ours = summary(n)
    copies = {a: {REGION: copy(n, a)} for a in accounts}
    return evolve(ours, amis=Amis.of(ours.amis.regional(), copies=copies))


def record_of(*builds: BuildSummary) -> AmiState:
    return evolve(record_after(*builds), target_accounts=(TARGET,))


def accounts_world(
    record: AmiState,
    listed: tuple[BuildSummary, ...],
    theirs: str | None,
    images: Mapping[str, ImageState] | None = None,
    tagged: Mapping[str, Mapping[str, str]] | None = None,
) -> World:
    """Ours converged; the target account's parameter holds ``theirs``; its copies'
    states are "available" but for ``images``. UNLISTED is read too (another
    preset lists it): nothing of this preset may reach it."""
    ours = world(record, listed, value(record.ami_id or ""), tagged=settled_tags(record))
    known = {key: s for key, s in ours.images.items()}
    known |= {(THERE, ami): state for ami, state in (images or {}).items()}
    return evolve(
        ours,
        accounts=(TARGET, UNLISTED),
        parameters={**ours.parameters, (THERE, PRESET): theirs},
        images=known,
        tags={**ours.tags, THERE: dict(tagged or {}), Place(REGION, UNLISTED): {}},
    )


def theirs_after(after: World) -> str:
    return str(json.loads(after.parameters[(THERE, PRESET)] or "{}")["amiId"])


def untagged(found: tuple[object, ...]) -> list[object]:
    return [i for i in found if not isinstance(i, Tag)]


def test_drift_only_in_a_target_account_is_converged_there_and_nowhere_else() -> None:
    builds = (copied(1, (TARGET, UNLISTED)), copied(2, (TARGET, UNLISTED)))
    record = record_of(*builds)
    found, after = settle(accounts_world(record, builds[::-1], value(copy(1))))
    assert untagged(found.instructions) == [Converge(PRESET, (REGION,), ("amiId",), TARGET)]
    assert theirs_after(after) == copy(2)
    assert json.loads(after.parameters[(THERE, PRESET)] or "{}") == json.loads(value(copy(2)))
    assert not any(UNLISTED in str(i) for i in found.instructions)  # an unlisted account


def test_a_missing_parameter_in_a_target_account_is_written() -> None:
    builds = (copied(1),)
    found, after = settle(accounts_world(record_of(*builds), builds, None))
    assert Converge(PRESET, (REGION,), ("missing",), TARGET) in found.instructions
    assert theirs_after(after) == copy(1)


def test_a_vanished_copy_falls_back_to_the_newest_build_whole_in_every_account() -> None:
    """Build 3's copy is gone, build 2's disabled: build 1 is whole everywhere, and every
    account moves to it (a preset's places hold one build, as its regions do)."""
    builds = (copied(1), copied(2), copied(3))
    record = record_of(*builds)
    images: dict[str, ImageState] = {copy(3): "missing", copy(2): "disabled"}
    found, after = settle(accounts_world(record, builds[::-1], value(copy(3)), images))
    (fallback,) = [i for i in found.instructions if isinstance(i, FallBack)]
    assert (fallback.vanished, fallback.state, fallback.to.build_id) == (
        copy(3),
        "missing",
        build_arn(1),
    )
    assert after.records[PRESET].ami_id == ami_for(1)
    assert theirs_after(after) == copy(1)


def test_a_pinned_copy_that_vanished_is_reported_never_replaced() -> None:
    builds = (copied(1), copied(2))
    record = record_of(*builds)
    pinned = record.history[min(record.history)]
    record = evolve(record, pin=Pin(pinned.build_id, pinned.amis))
    found = plan(accounts_world(record, (), value(copy(1)), {copy(1): "deregistered"}))
    assert not any(isinstance(i, FallBack) for i in found.instructions)
    assert Problem(
        PRESET, f"pinned AMI {copy(1)} is deregistered in {TARGET}/{REGION}: pin another"
    ) in (found.problems)


def test_a_build_without_a_copy_there_leaves_the_account_on_its_ami_and_protects_it() -> None:
    builds = (copied(1), summary(2))  # build 2 was not copied to the account
    no_copy = {TARGET: f"{TARGET}: no copy in {REGION}, previous AMI kept"}
    record = evolve(record_of(*builds), behind=no_copy)  # as its converge left it
    found, after = settle(accounts_world(record, builds[::-1], value(copy(1))))
    assert not any(isinstance(i, Converge | FallBack | Problem) for i in found.instructions)
    assert theirs_after(after) == copy(1)
    assert after.tags[THERE] == {copy(1): protected(PRESET)}  # a previous good build's copy


def test_copies_are_tagged_in_their_account_and_released_when_no_longer_needed() -> None:
    builds = tuple(copied(n) for n in range(1, 6))
    record = record_of(*builds)
    stale = {copy(1): protected(PRESET)}  # build 1 is no longer among the needed ones
    found, after = settle(accounts_world(record, builds[::-1], value(copy(5)), tagged=stale))
    kept = {ami: tags for ami, tags in after.tags[THERE].items() if tags}
    assert kept == {copy(n): protected(PRESET) for n in (5, 4, 3)}
    assert {type(i).__name__ for i in found.changes} == {"Tag", "Untag"}
    assert all(i.account == TARGET for i in found.changes if isinstance(i, Tag))
    assert after.tags[Place(REGION, UNLISTED)] == {}


def test_an_unreachable_account_is_reported_and_left_out_of_the_plan() -> None:
    builds = (copied(1), copied(2))
    record = record_of(*builds)
    start = accounts_world(record, builds[::-1], value(copy(1)), {copy(2): "missing"})
    why = f"account {TARGET}: access denied through role r (AssumeRole: AccessDenied)"
    start = evolve(start, accounts=(UNLISTED,), unreachable={TARGET: why})
    found = plan(start)
    assert found.unreachable == (Unreachable(TARGET, why),)
    assert found.changes == ()  # nothing is judged drifting, vanished or untagged there


def test_accounts_behind_that_are_out_of_date_are_converged_onto_the_record() -> None:
    """The record says which accounts the last converge left behind; a run that finds
    them otherwise converges the preset (nothing to write in SSM: only the record)."""
    builds = (copied(1), summary(2))  # build 2 was not copied to the account
    record = record_of(*builds)
    repair = Converge(PRESET, (), ("accountsBehind",))
    denied = {TARGET: f"account {TARGET}: access denied through role r"}
    no_copy = {TARGET: f"{TARGET}: no copy in {REGION}, previous AMI kept"}
    healed = record_of(copied(1), copied(2))

    def planned(record: AmiState, theirs: str, reached: bool = True) -> list[object]:
        start = accounts_world(record, (), value(theirs))
        if not reached:
            start = evolve(start, accounts=(), unreachable={TARGET: "denied"})
        return untagged(plan(start).changes)

    assert planned(record, copy(1)) == [repair]  # a legacy record: says none
    assert planned(evolve(record, behind=no_copy), copy(1)) == []
    assert planned(evolve(healed, behind=denied), copy(2)) == [repair]  # the role works now
    assert planned(evolve(healed, behind=no_copy, target_accounts=()), copy(2)) == [repair]
    assert planned(evolve(healed, behind=denied), copy(2), reached=False) == []
