"""StateStore contract: every implementation behaves like ``Transition.applies_to``/``apply``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from attrs import evolve

from amistate.core.amis import NO_AMIS, Amis
from amistate.core.rules import Transition
from amistate.core.state import NO_KEY, AmiState
from amistate.ports import Applied, Preset, Rejected
from tests.contract.conftest import TablePorts

PIPELINE = "arn:aws:imagebuilder:us-west-2:111122223333:image-pipeline/linux"
TARGET = "444455556666"  # a target account: its copies round-trip too
T0 = datetime(2024, 1, 18, 17, 0, tzinfo=UTC)


def transition(
    n: int,
    status: str = "ready",
    register: str = "all",
    reason: str | None = None,
) -> Transition:
    """The n-th event (key order = n order); successes carry ami-<n>."""
    ami = f"ami-{n:017x}" if status == "ready" else None
    return Transition(
        register=register,  # type: ignore[arg-type]
        key=f"{(T0 + timedelta(seconds=n)).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{n:09d}",
        status=status,  # type: ignore[arg-type]
        updated_at=T0 + timedelta(seconds=n, microseconds=n),
        build_id=f"arn:aws:imagebuilder:us-west-2:111122223333:image/linux/1.0.0/{n}",
        reason=reason,
        amis=Amis.of(
            {"us-west-2": ami, "eu-west-1": f"{ami}-eu"},
            "us-west-2",
            copies={TARGET: {"us-west-2": f"{ami}-copy"}},
        )
        if ami
        else NO_AMIS,
    )


def applied(result: object) -> AmiState:
    assert isinstance(result, Applied), result
    return result.record


def rejected(result: object) -> AmiState:
    assert isinstance(result, Rejected), result
    return result.current


def test_apply_on_missing_record_creates_it(table_ports: TablePorts) -> None:
    t = transition(1)
    record = applied(table_ports.states.apply("p", t))
    assert record == t.apply(None, "p")
    assert table_ports.states.get("p") == record


def test_get_of_missing_record_is_none(table_ports: TablePorts) -> None:
    assert table_ports.states.get("nobody") is None


def test_newer_event_wins(table_ports: TablePorts) -> None:
    states = table_ports.states
    first = applied(states.apply("p", transition(1)))
    second = applied(states.apply("p", transition(2, "failed", reason="boom")))
    assert second == transition(2, "failed", reason="boom").apply(first, "p")
    assert second.ami_id == first.ami_id  # a failure keeps the good AMI
    assert second.reason == "boom"
    third = applied(states.apply("p", transition(3)))
    assert third.reason is None  # the status register is replaced, reason included
    assert states.get("p") == third


def test_older_event_is_rejected_with_the_winning_record(table_ports: TablePorts) -> None:
    states = table_ports.states
    winner = applied(states.apply("p", transition(5, "failed", reason="x")))
    assert rejected(states.apply("p", transition(3))) == winner
    assert states.get("p") == winner


def test_equal_key_is_rejected(table_ports: TablePorts) -> None:
    states = table_ports.states
    winner = applied(states.apply("p", transition(4)))
    assert rejected(states.apply("p", transition(4))) == winner


def test_ami_register_transition(table_ports: TablePorts) -> None:
    states = table_ports.states
    applied(states.apply("p", transition(1)))
    failed = applied(states.apply("p", transition(5, "failed")))
    # success 3: older than the status (5), newer than the AMI (1)
    late = transition(3, register="ami")
    record = applied(states.apply("p", late))
    assert record == late.apply(failed, "p")
    assert (record.status, record.order_key) == ("failed", transition(5).key)
    assert (record.ami_id, record.ami_key) == (late.ami_id, late.key)
    assert record.amis == late.amis
    # older than the AMI register now, or not older than the status: rejected
    assert rejected(states.apply("p", transition(2, register="ami"))) == record
    assert rejected(states.apply("p", transition(6, register="ami"))) == record
    assert rejected(states.apply("p", transition(3, register="ami"))) == record


def test_create_initial(table_ports: TablePorts) -> None:
    states = table_ports.states
    assert states.create_initial("p", T0) is True
    assert states.get("p") == AmiState(preset="p")
    assert states.create_initial("p", T0) is False


def test_create_initial_never_clobbers_a_state(table_ports: TablePorts) -> None:
    states = table_ports.states
    record = applied(states.apply("p", transition(1)))
    assert states.create_initial("p", T0) is False
    assert states.get("p") == record
    assert applied(states.apply("p", transition(2))).ami_id == transition(2).ami_id


def test_create_initial_after_register_keeps_the_config(table_ports: TablePorts) -> None:
    config = {"instanceTypes": ["c7i.large"], "timeout": 3600}
    table_ports.catalog.register(Preset("p", PIPELINE, config))
    assert table_ports.states.create_initial("p", T0) is True
    expected = AmiState(preset="p", config=config, pipeline_arn=PIPELINE)
    assert table_ports.states.get("p") == expected
    record = applied(table_ports.states.apply("p", transition(1)))
    assert record.config == config  # the write returns the co-located config


def test_register_after_state_keeps_the_state(table_ports: TablePorts) -> None:
    record = applied(table_ports.states.apply("p", transition(1)))
    table_ports.catalog.register(Preset("p", PIPELINE, {"a": 1}))
    assert table_ports.states.get("p") == evolve(record, config={"a": 1}, pipeline_arn=PIPELINE)
    assert table_ports.states.create_initial("p", T0) is False


def test_transitions_on_a_config_only_record(table_ports: TablePorts) -> None:
    table_ports.catalog.register(Preset("p", PIPELINE, {"a": 1}))
    base = AmiState(preset="p", config={"a": 1}, pipeline_arn=PIPELINE)
    assert rejected(table_ports.states.apply("p", transition(1, register="ami"))) == base
    record = applied(table_ports.states.apply("p", transition(2)))
    assert record == transition(2).apply(base, "p")


def test_config_json_types_survive(table_ports: TablePorts) -> None:
    config: dict[str, object] = {
        "int": 1,
        "float": 1.5,
        "whole_float": 2.0,
        "big": 12345678901234567890,
        "true": True,
        "false": False,
        "null": None,
        "text": "ünïcode ✓",
        "nested": {"list": [1, "1", True, None, {"deep": [0.1]}], "empty": {}},
        "emptyList": [],
        "emptyString": "",
    }
    table_ports.catalog.register(Preset("p", PIPELINE, config))
    record = applied(table_ports.states.apply("p", transition(1)))
    assert record.config is not None
    # == would equate 1, 1.0 and True: compare the JSON text instead.
    assert json.dumps(record.config) == json.dumps(config)
    got = table_ports.states.get("p")
    assert got is not None
    assert json.dumps(got.config) == json.dumps(config)


def test_scan_lists_every_record(table_ports: TablePorts) -> None:
    states = table_ports.states
    assert list(states.scan()) == []
    for name in ("b", "a", "c"):
        states.create_initial(name, T0)
    applied(states.apply("a", transition(1)))
    table_ports.catalog.register(Preset("d", PIPELINE, {"x": 1}))  # also adds a mapping item
    found = list(states.scan())
    assert [r.preset for r in found] == ["a", "b", "c", "d"]
    assert found == [states.get(name) for name in ("a", "b", "c", "d")]


def test_initial_record_fields(table_ports: TablePorts) -> None:
    table_ports.states.create_initial("p", T0)
    record = table_ports.states.get("p")
    assert record is not None
    assert (record.status, record.ami_id, record.updated_at, record.build_id) == (
        "building",
        None,
        None,
        None,
    )
    assert (record.order_key, record.ami_key, record.amis) == (NO_KEY, NO_KEY, NO_AMIS)


def test_a_build_of_a_pipeline_the_record_left_is_rejected_in_the_same_write(
    table_ports: TablePorts,
) -> None:
    """rules.moved, enforced by every backend: the record's pipelineArn, if any, is the build's."""
    states, catalog = table_ports.states, table_ports.catalog
    other = PIPELINE.replace("/linux", "/windows")
    catalog.register(Preset("p", PIPELINE, {"k": 1}))
    first = applied(states.apply("p", evolve(transition(1), pipeline_arn=PIPELINE)))
    for attempted in (transition(2), evolve(transition(2), register="ami")):
        assert rejected(states.apply("p", evolve(attempted, pipeline_arn=other))) == first
    assert states.get("p") == first
    # A transition that names no pipeline (a joining preset's), or a record that names none
    # (written before records carried it), is not checked.
    second = applied(states.apply("p", transition(2)))
    assert second.build_id == transition(2).build_id
    unmapped = applied(states.apply("q", evolve(transition(1), pipeline_arn=other)))
    assert unmapped.pipeline_arn is None


def test_get_many_is_get_for_each_and_leaves_out_the_missing(table_ports: TablePorts) -> None:
    """The reconcile run's confirm: more presets than one BatchGetItem takes (100)."""
    states = table_ports.states
    names = [f"p{n:03d}" for n in range(105)]
    for name in names:
        states.create_initial(name, T0)
    applied(states.apply("p104", transition(1)))
    table_ports.catalog.register(Preset("p000", PIPELINE, {"x": 1}))  # a mapping item too
    found = states.get_many([*names, "nobody", "p104"])
    assert sorted(found) == names
    assert all(found[name] == states.get(name) for name in names)
    assert found["p104"].ami_id == transition(1).ami_id
    assert states.get_many([]) == {}


def test_set_behind_replaces_the_accounts_behind_and_never_makes_a_record(
    table_ports: TablePorts,
) -> None:
    states = table_ports.states
    states.set_behind("nobody", {TARGET: "denied"})
    assert states.get("nobody") is None
    record = applied(states.apply("p", transition(1)))
    assert record.behind == {}
    why = f"account {TARGET}: access denied through role r (AssumeRole: AccessDenied)"
    states.set_behind("p", {TARGET: why, "777788889999": "777788889999: no copy in us-west-2"})
    assert states.get("p") == evolve(
        record, behind={TARGET: why, "777788889999": "777788889999: no copy in us-west-2"}
    )
    states.set_behind("p", {TARGET: why})
    assert states.get("p") == evolve(record, behind={TARGET: why})
    states.set_behind("p", {})  # healed
    assert states.get("p") == record
