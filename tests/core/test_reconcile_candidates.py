"""A waiting candidate whose AMI is gone for good is withdrawn by the reconcile run:
rejected, so canary runners stop reading it as ``candidateAmiId`` and it never goes
live (neither by its soak nor by a fallback). One that may still come (``pending``) or
come back (``disabled``) is left alone."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from attrs import evolve

from amistate.core import rules
from amistate.core.amis import Place
from amistate.core.state import AmiState, Pin, Rollout
from amistate.ports.inventory import ImageState
from amistate.usecases.reconcile.plan import (
    FallBack,
    Problem,
    Promote,
    Withdraw,
    event_of,
    plan,
)
from tests.core.test_reconcile_accounts_run import TARGET, copy, start
from tests.core.test_reconcile_plan import record_after, settle, summary, value, world
from tests.core.world import PIPELINE, PRESET, REGION, T0, ami_for


def waiting_record() -> AmiState:
    """Build 1 live, build 2 (completed at T0 + 2 h) waiting out a 6-hour soak."""
    record = evolve(record_after(), rollout=Rollout("soak", timedelta(hours=6)))
    for build in (summary(1), summary(2)):
        attempted = rules.attempt(event_of(build, PIPELINE), REGION, (REGION,), PRESET)
        decision = rules.decide(record, attempted)
        assert isinstance(decision, rules.Apply)
        record = decision.transition.apply(record, PRESET)
    assert record.waiting is not None and record.ami_id == ami_for(1)
    return record


SHOWN = value(ami_for(1), candidateAmiId=ami_for(2))


@pytest.mark.parametrize("state", ["deregistered", "failed", "missing"])
def test_a_candidate_gone_for_good_is_withdrawn_and_its_ami_no_longer_shown(
    state: ImageState,
) -> None:
    record = waiting_record()
    start_world = evolve(world(record, parameter=SHOWN, images={ami_for(2): state}), now=T0)
    found, after = settle(start_world)
    (withdraw,) = [i for i in found.instructions if isinstance(i, Withdraw)]
    assert (withdraw.vanished, withdraw.state, withdraw.place) == (ami_for(2), state, Place(REGION))
    left = after.records[PRESET]
    assert left.waiting is None and left.ami_id == ami_for(1)
    rejected = [b for b in left.history.values() if b.rejection is not None]
    assert [b.ami_id for b in rejected] == [ami_for(2)]
    assert json.loads(after.parameters[(Place(REGION), PRESET)] or "{}") == json.loads(
        value(ami_for(1))
    )


def test_a_due_candidate_gone_for_good_goes_live_and_is_fallen_back_from() -> None:
    """As the run carries it out: the service's converge promotes a due candidate
    whenever it writes, so the plan predicts that, then falls back from its AMI."""
    record = waiting_record()
    late = evolve(world(record, parameter=SHOWN, images={ami_for(2): "deregistered"}))
    found = plan(evolve(late, now=T0 + timedelta(hours=9))).instructions
    steps = [type(i) for i in found if isinstance(i, Withdraw | Promote | FallBack)]
    assert steps == [Promote, FallBack]
    (fallback,) = [i for i in found if isinstance(i, FallBack)]
    assert (fallback.vanished, fallback.to.ami_id) == (ami_for(2), ami_for(1))


@pytest.mark.parametrize("state", ["pending", "disabled"])
def test_a_candidate_that_may_still_be_launchable_waits(state: ImageState) -> None:
    record = waiting_record()
    found = plan(evolve(world(record, parameter=SHOWN, images={ami_for(2): state}), now=T0))
    assert [i for i in found.instructions if isinstance(i, Withdraw | Promote)] == []


def test_a_reconcile_run_rejects_it_and_a_second_run_has_nothing_to_do() -> None:
    """Over the in-memory ports: a manual preset's candidate, its copy deregistered in the
    target account; the run rejects the build, and both parameters drop candidateAmiId."""
    run = start((TARGET,), rollout=Rollout("manual"))
    run.build(1, (TARGET,))
    run.build(2, (TARGET,))
    assert run.rt.reconciler.run().failed == {}
    record = run.rt.service.require(PRESET)
    assert record.waiting is not None and record.waiting.ami_id == ami_for(2)
    shown = run.rt.converger.parameter(REGION, PRESET, TARGET)
    assert shown is not None and json.loads(shown.value)["candidateAmiId"] == copy(2, TARGET)
    run.accounts.images[(TARGET, REGION)].images[copy(2, TARGET)].state = "deregistered"
    report = run.rt.reconciler.run()
    (withdraw,) = [i for i in report.done if isinstance(i, Withdraw)]
    assert (withdraw.vanished, withdraw.place) == (copy(2, TARGET), Place(REGION, TARGET))
    assert report.counts()["withdrawn"] == 1
    after = run.rt.service.require(PRESET)
    assert after.waiting is None and after.ami_id == ami_for(1)
    (rejected,) = [b for b in after.history.values() if b.rejection is not None]
    assert rejected.ami_id == ami_for(2) and rejected.rejection is not None
    assert (
        rejected.rejection.reason
        == f"withdrawn by the reconcile run: its AMI {copy(2, TARGET)} is deregistered"
    )
    for place in (Place(REGION), Place(REGION, TARGET)):
        found = run.rt.converger.parameter(place.region, PRESET, place.account)
        assert found is not None and "candidateAmiId" not in json.loads(found.value)
    assert run.rt.reconciler.run().plan.changes == ()


def test_a_pinned_candidate_is_never_withdrawn_its_pin_is_the_problem() -> None:
    record = waiting_record()
    entry = next(b for b in record.history.values() if b.ami_id == ami_for(2))
    pinned = evolve(record, pin=Pin(entry.build_id, entry.amis, T0))
    found = plan(evolve(world(pinned, images={ami_for(2): "deregistered"}), now=T0)).instructions
    assert [i for i in found if isinstance(i, Withdraw)] == []
    assert any(isinstance(i, Problem) and "pinned AMI" in i.text for i in found)
