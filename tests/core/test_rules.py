"""The ordering rules, one by one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from attrs import evolve
from hypothesis import given
from hypothesis import strategies as st

from amistate.core import rules
from amistate.core.amis import Amis
from amistate.core.arns import parse_build_arn
from amistate.core.events import BuildEvent
from amistate.core.rules import (
    Apply,
    Duplicate,
    Stale,
    Transition,
    decide,
    ordering_key,
    transition_for,
)
from amistate.core.state import AmiState
from tests.core.world import PRESET, REGION, T0, ami_for, event


@pytest.mark.parametrize(
    ("status", "expected"),
    [("AVAILABLE", "ready"), ("FAILED", "failed"), ("CANCELLED", "failed")]
    + [
        (s, None)
        for s in [
            "PENDING",
            "CREATING",
            "BUILDING",
            "TESTING",
            "DISTRIBUTING",
            "INTEGRATING",
            "DEPRECATED",
            "DELETED",
            "available",
        ]
    ],
)
def test_status_mapping(status: str, expected: str | None) -> None:
    assert rules.classify(status) == expected


def test_cancelled_is_failed_with_reason_cancelled() -> None:
    transition = transition_for(event(1, status="CANCELLED"))
    assert (transition.status, transition.reason) == ("failed", "cancelled")
    assert not transition.sets_ami


def test_build_versions_compare_numerically_in_the_key() -> None:
    older = evolve(
        event(7),
        build=parse_build_arn(
            "arn:aws:imagebuilder:us-west-2:111122223333:image/spot-runner-linux-x64/1.0.9/7"
        ),
    )
    newer = evolve(
        event(1),
        build=parse_build_arn(
            "arn:aws:imagebuilder:us-west-2:111122223333:image/spot-runner-linux-x64/1.0.10/1"
        ),
    )
    assert ordering_key(newer) > ordering_key(older)


def test_time_comes_before_version() -> None:
    assert ordering_key(event(1, minute=1)) > ordering_key(event(9, minute=0))


def test_key_is_fixed_width() -> None:
    keys = {
        len(ordering_key(event(b, minute=m, patch=p)))
        for b in (1, 12)
        for m in (0, 3)
        for p in (0, 1)
    }
    assert len(keys) == 1


versions = st.tuples(*(st.integers(0, 10**9 - 1) for _ in range(4)))


@given(versions, versions, st.integers(0, 10**6), st.integers(0, 10**6))
def test_key_order_is_build_start_then_numeric_version(
    a: tuple[int, int, int, int], b: tuple[int, int, int, int], ta: int, tb: int
) -> None:
    def ev(v: tuple[int, int, int, int], t: int) -> BuildEvent:
        arn = f"arn:aws:imagebuilder:us-west-2:111122223333:image/x/{v[0]}.{v[1]}.{v[2]}/{v[3]}"
        start = T0 + timedelta(seconds=t)
        # The event's own time (delivery, completion) never matters: only the start.
        return evolve(event(1), build=parse_build_arn(arn), created=start, time=T0 - start + T0)

    ka, kb = ordering_key(ev(a, ta)), ordering_key(ev(b, tb))
    assert (ka < kb) == ((ta, a) < (tb, b))


def test_a_key_needs_the_build_start_and_reads_it_back() -> None:
    with pytest.raises(ValueError, match="start time unknown"):
        ordering_key(evolve(event(1), created=None))
    key = ordering_key(event(1, minute=7))
    assert rules.key_time(key) == T0 + timedelta(minutes=7)
    assert rules.key_time("") is None


def _transition(ev: BuildEvent) -> Transition:
    """The transition for ``ev``, with its AMI as GetImage would give it."""
    ami = ami_for(ev.build.version[3], ev.build.version[2])
    return transition_for(ev, Amis.of({REGION: ami}, REGION))


def _record_after(*events: BuildEvent) -> AmiState:
    record = AmiState(preset=PRESET)
    for ev in events:
        t = _transition(ev)
        decision = decide(record, t)
        if isinstance(decision, Apply):
            record = decision.transition.apply(record, PRESET)
    return record


def test_newer_event_is_applied_older_is_stale_same_is_duplicate() -> None:
    record = _record_after(event(2, minute=2))
    assert isinstance(decide(record, _transition(event(3, minute=3))), Apply)
    assert isinstance(decide(record, _transition(event(1, minute=1))), Stale)
    assert isinstance(decide(record, _transition(event(2, minute=2))), Duplicate)


def test_failure_keeps_the_last_good_ami() -> None:
    record = _record_after(event(1, minute=1), event(2, status="FAILED", minute=2))
    assert record.status == "failed"
    assert record.ami_id is not None
    assert record.build_id is not None and record.build_id.endswith("/2")


def test_older_success_after_newer_failure_sets_the_ami_only() -> None:
    record = _record_after(event(2, status="FAILED", minute=2))
    decision = decide(record, _transition(event(1, minute=1, origin="sns")))
    assert isinstance(decision, Apply)
    assert decision.transition.register == "ami"
    after = decision.transition.apply(record, PRESET)
    assert after.status == "failed"
    assert after.ami_id is not None
    assert after.updated_at == record.updated_at


def test_after_a_fallback_a_success_between_applies_and_the_vanished_one_stays_stale() -> None:
    """A fallback moves the AMI register, its key included, to an older build; the build
    it left (its AMI vanished) is in the history and never becomes the AMI again."""
    old, between, vanished = (_transition(event(n, minute=n, origin="sns")) for n in (1, 2, 3))
    record = _record_after(event(1, minute=1, origin="sns"), event(3, minute=3, origin="sns"))
    failed = _transition(event(4, "FAILED", minute=4))
    record = failed.apply(record, PRESET)
    fell = evolve(record, amis=old.amis, ami_key=old.key)
    decision = decide(fell, between)
    assert isinstance(decision, Apply) and decision.transition.register == "ami"
    assert decision.transition.applies_to(fell)
    assert isinstance(decide(fell, vanished), Stale)
    assert not evolve(vanished, register="ami").applies_to(fell)


def test_failures_never_sync_ssm_successes_always_do() -> None:
    record = _record_after(event(1, minute=1, origin="sns"))
    assert not rules.syncs_parameter(_transition(event(2, "FAILED", minute=2)), record)
    assert rules.syncs_parameter(_transition(event(1, minute=1, origin="sns")), record)
    assert not rules.syncs_parameter(
        _transition(event(1, status="FAILED", minute=1)), AmiState(preset=PRESET)
    )
