"""StateStore contract, history and pin: apply keeps builds, keep_build, forget_builds,
fall_back and set_pin behave alike on memory, moto and dynalite."""

from __future__ import annotations

from datetime import UTC, datetime

from attrs import evolve

from amistate.core.amis import Amis
from amistate.core.builds import TrimBasis
from amistate.core.state import AmiState, BuildRecord, Pin
from amistate.ports import Preset
from tests.contract.conftest import TablePorts
from tests.contract.test_state_store import PIPELINE, T0, applied, rejected, transition

PINNED_AT = datetime(2024, 2, 1, 9, 30, tzinfo=UTC)


def pin_of(build: BuildRecord, reason: str | None = "bad agent") -> Pin:
    return Pin(build.build_id, build.amis, PINNED_AT, reason)


def history(ports: TablePorts, preset: str = "p") -> dict[str, BuildRecord]:
    record = ports.states.get(preset)
    assert record is not None
    return dict(record.history)


def test_apply_keeps_successes_and_failures(table_ports: TablePorts) -> None:
    states = table_ports.states
    ok, bad = transition(1), transition(2, "failed", reason="boom")
    applied(states.apply("p", ok))
    record = applied(states.apply("p", bad))
    assert dict(record.history) == {ok.key: ok.entry, bad.key: bad.entry}
    assert record.history[bad.key].ami_id is None
    assert record.history[bad.key].reason == "boom"
    assert record.history[ok.key].amis == ok.amis
    # the AMI register names its own build, the status register the failure
    assert (record.ami_build_id, record.ami_updated_at) == (ok.build_id, ok.updated_at)
    assert record.build_id == bad.build_id
    assert states.get("p") == record


def test_ami_register_transition_keeps_its_build(table_ports: TablePorts) -> None:
    states = table_ports.states
    applied(states.apply("p", transition(1)))
    applied(states.apply("p", transition(5, "failed")))
    late = transition(3, register="ami")
    record = applied(states.apply("p", late))
    assert set(record.history) == {transition(1).key, transition(5).key, late.key}
    assert record.history[late.key] == late.entry
    assert (record.ami_build_id, record.ami_updated_at) == (late.build_id, late.updated_at)


def test_a_second_apply_of_the_same_transition_adds_nothing(table_ports: TablePorts) -> None:
    states = table_ports.states
    first = applied(states.apply("p", transition(1)))
    assert rejected(states.apply("p", transition(1))) == first
    assert history(table_ports) == {transition(1).key: transition(1).entry}


def test_a_rejected_apply_keeps_nothing_and_keep_build_adds_it(table_ports: TablePorts) -> None:
    states = table_ports.states
    winner = applied(states.apply("p", transition(5)))
    stale = transition(3, "failed", reason="late")
    assert rejected(states.apply("p", stale)) == winner
    assert set(history(table_ports)) == {transition(5).key}
    states.keep_build("p", stale.entry)
    expected = evolve(winner, history={**winner.history, stale.key: stale.entry})
    assert states.get("p") == expected
    states.keep_build("p", stale.entry)  # idempotent
    states.keep_build("p", evolve(stale.entry, reason="different"))  # never overwrites
    states.keep_build("p", evolve(transition(5).entry, amis=Amis.of({"us-west-2": "ami-other"})))
    assert states.get("p") == expected


def test_keep_build_without_a_record_does_nothing(table_ports: TablePorts) -> None:
    table_ports.states.keep_build("p", transition(1).entry)
    assert table_ports.states.get("p") is None


def test_keep_build_on_an_initial_or_config_only_record(table_ports: TablePorts) -> None:
    table_ports.states.create_initial("p", T0)
    table_ports.catalog.register(Preset("q", PIPELINE, {"a": 1}))
    for preset in ("p", "q"):
        table_ports.states.keep_build(preset, transition(1).entry)
        assert history(table_ports, preset) == {transition(1).key: transition(1).entry}


def test_forget_builds(table_ports: TablePorts) -> None:
    states = table_ports.states
    for n in (1, 2, 3):
        applied(states.apply("p", transition(n, "failed" if n == 2 else "ready")))
    before = states.get("p")
    assert before is not None
    basis = TrimBasis.of(before)
    keys = [transition(1).key, transition(3).key, "unknown", transition(1).key]
    assert states.forget_builds("p", keys, basis)
    after = states.get("p")
    assert after == evolve(before, history={transition(2).key: before.history[transition(2).key]})
    assert states.forget_builds("p", [], basis)
    assert states.forget_builds("p", [transition(1).key], basis)  # idempotent
    assert states.get("p") == after
    assert not states.forget_builds("nobody", [transition(1).key], basis)
    assert states.get("nobody") is None


def test_forget_builds_only_while_the_ami_register_and_the_pin_are_as_planned(
    table_ports: TablePorts,
) -> None:
    """A trim chosen before a pin, a new build or a fallback landed may drop a build
    that is needed now: it writes nothing. Entries it does not name always stay."""
    states = table_ports.states
    for n in (1, 2, 3):
        applied(states.apply("p", transition(n)))
    planned = states.get("p")
    assert planned is not None
    basis = TrimBasis.of(planned)
    one = [transition(1).key]
    pinned = states.set_pin("p", pin_of(transition(1).entry), expected=None)
    assert pinned is not None
    assert not states.forget_builds("p", one, basis)
    assert states.get("p") == pinned
    assert states.forget_builds("p", [transition(2).key], TrimBasis.of(pinned))
    unpinned = states.set_pin("p", None, expected=transition(1).build_id)
    assert unpinned is not None
    newer = applied(states.apply("p", transition(4)))
    assert not states.forget_builds("p", one, TrimBasis.of(unpinned))
    assert states.get("p") == newer
    assert states.forget_builds("p", one, TrimBasis.of(newer))
    assert set(history(table_ports)) == {transition(3).key, transition(4).key}


def test_forget_many_builds(table_ports: TablePorts) -> None:
    states = table_ports.states
    states.create_initial("p", T0)
    builds = [transition(n).entry for n in range(1, 121)]
    for build in builds:
        states.keep_build("p", build)
    record = states.get("p")
    assert record is not None
    assert states.forget_builds("p", [b.key for b in builds[:117]], TrimBasis.of(record))
    assert history(table_ports) == {b.key: b for b in builds[117:]}


def test_fall_back_only_under_its_condition(table_ports: TablePorts) -> None:
    states = table_ports.states
    one, two = transition(1), transition(2)
    applied(states.apply("p", one))
    current = applied(states.apply("p", two))
    assert states.fall_back("p", one.key, one.entry) is None  # wrong key
    assert states.fall_back("nobody", two.key, one.entry) is None
    assert states.get("p") == current
    after = states.fall_back("p", two.key, one.entry)
    assert after == evolve(
        current,
        amis=one.amis,
        ami_key=one.key,  # the fallback build's: a success between the two still applies
        ami_build_id=one.build_id,
        ami_updated_at=one.updated_at,
    )
    assert states.get("p") == after
    assert states.fall_back("p", two.key, one.entry) is None  # done once


def test_after_a_fallback_a_build_between_applies_and_the_vanished_one_does_not(
    table_ports: TablePorts,
) -> None:
    """The AMI-register condition: newer than ``amiKey``, older than ``orderKey``,
    and not in the history (the build a fallback left is there)."""
    states = table_ports.states
    for t in (transition(1), transition(3), transition(4, "failed")):
        applied(states.apply("p", t))
    fell = states.fall_back("p", transition(3).key, transition(1).entry)
    assert fell is not None
    assert rejected(states.apply("p", transition(3, register="ami"))) == fell
    record = applied(states.apply("p", transition(2, register="ami")))
    assert (record.ami_key, record.ami_id) == (transition(2).key, transition(2).ami_id)
    assert states.get("p") == record


def test_set_pin_conditions(table_ports: TablePorts) -> None:
    states = table_ports.states
    one, bad, three = transition(1), transition(2, "failed"), transition(3)
    for t in (one, bad, three):
        applied(states.apply("p", t))
    pinned = states.set_pin("p", pin_of(one.entry), expected=None)
    assert pinned is not None
    assert pinned.pin == pin_of(one.entry)
    assert pinned.ami_id == three.ami_id  # the AMI register is untouched
    assert states.get("p") == pinned
    # the current pin is not `expected`: refused, nothing written
    assert states.set_pin("p", pin_of(three.entry), expected=None) is None
    assert states.set_pin("p", pin_of(three.entry), expected=three.build_id) is None
    assert states.set_pin("p", None, expected=None) is None
    assert states.get("p") == pinned
    # not a good build of the history: unknown, or failed
    unknown = Pin(one.build_id.replace("/1", "/99"), Amis(home="ami-0000000000000abcd"))
    assert states.set_pin("p", unknown, expected=one.build_id) is None
    assert states.set_pin("p", Pin(bad.build_id, Amis(home="ami-x")), expected=one.build_id) is None
    assert states.get("p") == pinned
    moved = states.set_pin("p", pin_of(three.entry, reason=None), expected=one.build_id)
    assert moved is not None
    assert moved.pin == pin_of(three.entry, reason=None)
    unpinned = states.set_pin("p", None, expected=three.build_id)
    assert unpinned == evolve(moved, pin=None)
    assert states.get("p") == unpinned
    # unpinning an unpinned record with expected=None holds: the record as it is
    assert states.set_pin("p", None, expected=None) == unpinned


def test_pin_without_time_round_trips(table_ports: TablePorts) -> None:
    states = table_ports.states
    one = transition(1)
    applied(states.apply("p", one))
    pin = Pin(one.build_id, one.amis)
    record = states.set_pin("p", pin, expected=None)
    assert record is not None
    assert record.pin == pin
    assert states.get("p") == record


def test_set_pin_without_a_record_or_after_the_build_was_forgotten(
    table_ports: TablePorts,
) -> None:
    states = table_ports.states
    one = transition(1)
    assert states.set_pin("p", pin_of(one.entry), expected=None) is None
    assert states.set_pin("p", None, expected=None) is None
    assert states.get("p") is None
    applied(states.apply("p", one))
    two = applied(states.apply("p", transition(2)))
    assert states.forget_builds("p", [one.key], TrimBasis.of(two))
    assert states.set_pin("p", pin_of(one.entry), expected=None) is None
    record = states.get("p")
    assert record is not None
    assert record.pin is None


def test_events_and_register_never_touch_the_pin(table_ports: TablePorts) -> None:
    states = table_ports.states
    applied(states.apply("p", transition(1)))
    pinned = states.set_pin("p", pin_of(transition(1).entry), expected=None)
    assert pinned is not None
    record = applied(states.apply("p", transition(2)))
    assert record.pin == pinned.pin
    assert record.ami_id == transition(2).ami_id
    table_ports.catalog.register(Preset("p", PIPELINE, {"a": 1}, retired_keys=("old", "older")))
    after = states.get("p")
    assert after == evolve(
        record, config={"a": 1}, pipeline_arn=PIPELINE, retired_keys=("old", "older")
    )


def test_register_creates_an_empty_history(table_ports: TablePorts) -> None:
    table_ports.catalog.register(Preset("p", PIPELINE, {}))
    assert table_ports.states.get("p") == AmiState(preset="p", config={}, pipeline_arn=PIPELINE)
    table_ports.states.keep_build("p", transition(1).entry)
    assert history(table_ports) == {transition(1).key: transition(1).entry}


def test_scan_returns_history_and_pin(table_ports: TablePorts) -> None:
    states = table_ports.states
    applied(states.apply("a", transition(1)))
    applied(states.apply("b", transition(2, "failed")))
    states.set_pin("a", pin_of(transition(1).entry), expected=None)
    found = list(states.scan())
    assert found == [states.get("a"), states.get("b")]
    assert found[0].pin == pin_of(transition(1).entry)
    assert set(found[1].history) == {transition(2).key}
