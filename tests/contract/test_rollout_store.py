"""StateStore contract for rollouts: candidate writes, promote and reject behave the
same on every backend (the DynamoDB conditions mirror ``Transition.applies_to``)."""

from __future__ import annotations

from datetime import timedelta

from attrs import evolve

from amistate.core import rules
from amistate.core.builds import TrimBasis
from amistate.core.rollout import replacement
from amistate.core.state import AmiState, Rejection, Rollout
from amistate.core.state_parts import Pin, RolloutBasis
from amistate.ports import Applied, Preset
from tests.contract.conftest import TablePorts
from tests.contract.test_state_store import PIPELINE, T0, applied, transition


def _apply(ports: TablePorts, n: int, status: str = "ready") -> AmiState:
    """Deliver the n-th event (a success unless ``status`` says) as the service does:
    optimistic, then ``decide``."""
    attempted = transition(n, status, reason=None if status == "ready" else "boom")
    for _ in range(4):
        result = ports.states.apply("p", attempted)
        if isinstance(result, Applied):
            return result.record
        decision = rules.decide(result.current, attempted)
        if not isinstance(decision, rules.Apply):
            return result.current
        attempted = decision.transition
    raise AssertionError("did not settle")


def _manual(ports: TablePorts, policy: str = "manual") -> None:
    soak = timedelta(hours=6) if policy == "soak" else None
    rollout = Rollout(policy, soak)  # type: ignore[arg-type]
    ports.catalog.register(Preset("p", PIPELINE, {}, (), rollout=rollout))


def test_manual_policy_first_build_live_second_candidate(table_ports: TablePorts) -> None:
    _manual(table_ports, "soak")
    first = _apply(table_ports, 1)
    assert first.ami_id == transition(1).ami_id and first.candidate is None
    second = _apply(table_ports, 2)
    assert second.ami_id == transition(1).ami_id  # the live AMI stays
    assert second.waiting is not None and second.waiting.ami_id == transition(2).ami_id
    assert second.waiting.completed_at == transition(2).updated_at
    assert second.rollout == Rollout("soak", timedelta(hours=6))
    assert table_ports.states.get("p") == second
    third = _apply(table_ports, 3)  # replaces the waiting candidate
    assert third.waiting is not None and third.waiting.build_id == transition(3).build_id
    assert _apply(table_ports, 2) == third  # an older build no longer takes its place


def test_immediate_policy_unchanged(table_ports: TablePorts) -> None:
    _manual(table_ports, "immediate")
    _apply(table_ports, 1)
    record = _apply(table_ports, 2)
    assert record.ami_id == transition(2).ami_id and record.candidate is None


def test_promote_only_the_current_candidate(table_ports: TablePorts) -> None:
    _manual(table_ports)
    _apply(table_ports, 1)
    waiting = _apply(table_ports, 2).waiting
    assert waiting is not None
    other = evolve(waiting, key=transition(3).key)
    assert table_ports.states.promote("p", other) is None
    after = table_ports.states.promote("p", waiting)
    assert after is not None
    assert (after.ami_id, after.ami_key, after.candidate) == (waiting.ami_id, waiting.key, None)
    assert after.ami_updated_at == waiting.completed_at
    assert table_ports.states.promote("p", waiting) is None  # once


def test_reject_candidate_then_live(table_ports: TablePorts) -> None:
    _manual(table_ports)
    _apply(table_ports, 1)
    _apply(table_ports, 2)
    record = _apply(table_ports, 3)  # 2 and 3 good; 3 waits
    assert record.candidate is not None
    key = record.candidate.key
    stale = RolloutBasis(record.ami_key, None, None)
    assert table_ports.states.reject("p", key, Rejection(T0), stale, None) is None
    no = Rejection(T0, "breaks the agent")
    after = table_ports.states.reject("p", key, no, RolloutBasis.of(record), None)
    assert after is not None and after.candidate is None
    assert after.history[key].rejection == no and not after.history[key].good
    assert _apply(table_ports, 3) == after  # a redelivery: never candidate again
    # Build 1 is live and the oldest: rejecting it has nothing to fall back to.
    live = after.history[after.ami_key]
    assert replacement(after, live) is None


def test_reject_live_falls_back_in_the_same_write(table_ports: TablePorts) -> None:
    _manual(table_ports, "immediate")
    _apply(table_ports, 1)
    record = _apply(table_ports, 2)
    live = record.history[record.ami_key]
    to = replacement(record, live)
    assert to is not None and to.build_id == transition(1).build_id
    after = table_ports.states.reject("p", live.key, Rejection(T0), RolloutBasis.of(record), to)
    assert after is not None
    assert (after.ami_id, after.ami_key) == (to.ami_id, to.key)
    assert _apply(table_ports, 2) == after  # stale: stays rejected
    assert table_ports.states.fall_back("p", after.ami_key, live) is None
    assert not table_ports.states.forget_builds("p", [live.key], TrimBasis.of(after))
    assert table_ports.states.get("p") == after


def test_failure_changes_neither(table_ports: TablePorts) -> None:
    _manual(table_ports)
    _apply(table_ports, 1)
    record = _apply(table_ports, 2)
    after = applied(table_ports.states.apply("p", transition(3, "failed", reason="boom")))
    assert (after.ami_id, after.candidate) == (record.ami_id, record.candidate)


def test_current_is_the_record_without_its_history(table_ports: TablePorts) -> None:
    """What a converge confirms against: every part of the record but the history
    (DynamoDB: a projected GetItem; a part the projection forgot fails here)."""
    states, target = table_ports.states, "444455556666"
    assert states.current("p") is None
    rollout = Rollout("soak", timedelta(hours=6))
    ports_preset = Preset("p", PIPELINE, {"x": 1}, ("old",), "/amis/p", rollout, (target,))
    table_ports.catalog.register(ports_preset)
    live = _apply(table_ports, 1)
    _apply(table_ports, 2)  # waits as the candidate
    assert _apply(table_ports, 3, "failed").reason == "boom"
    pin = Pin(live.ami_build_id or "", live.amis, T0, "hold")
    assert states.set_pin("p", pin, None) is not None
    states.set_behind("p", {target: "denied"})
    full = states.get("p")
    assert full is not None and len(full.history) == 3
    every_part = (full.pin, full.candidate, full.config, full.retired_keys, full.reason)
    assert all(every_part) and full.rollout == rollout and full.behind
    assert full.ami_parameter and full.target_accounts and full.amis.copies()
    assert states.current("p") == evolve(full, history={})
