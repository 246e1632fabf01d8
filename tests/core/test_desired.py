"""The desired parameter value: idempotent, config wins, retired keys go, others stay."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amistate.core.desired import drift, parameter_value, retire, same_json, written_by_others
from amistate.core.state import AmiState
from amistate.errors import InvalidConfig

KEYS = st.sampled_from(["instanceTypes", "timeout", "labels", "maxRunners", "secret", "owner"])
SCALARS = st.one_of(
    st.booleans(), st.integers(-5, 5), st.floats(-2, 2, allow_nan=False), st.text(max_size=3)
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=2))
OBJECTS = st.dictionaries(KEYS, VALUES, max_size=5)
AMIS = st.sampled_from(["ami-1", "ami-2", "ami-3"])


@given(current=OBJECTS, config=OBJECTS, retired=st.lists(KEYS), ami=AMIS)
def test_the_value_is_a_fixed_point(
    current: dict[str, Any], config: dict[str, Any], retired: list[str], ami: str
) -> None:
    once = parameter_value(json.dumps(current), config, ami, retired)
    assert parameter_value(once, config, ami, retired) == once


@given(current=OBJECTS, config=OBJECTS, retired=st.lists(KEYS), ami=AMIS)
def test_config_wins_retired_keys_go_and_foreign_keys_stay(
    current: dict[str, Any], config: dict[str, Any], retired: list[str], ami: str
) -> None:
    value = json.loads(parameter_value(json.dumps(current), config, ami, retired))
    assert value["amiId"] == ami
    for key, wanted in config.items():
        assert same_json({"v": value[key]}, {"v": wanted})
    for key in set(retired) - set(config):
        assert key not in value
    for key in set(current) - set(config) - set(retired) - {"amiId"}:
        assert same_json({"v": value[key]}, {"v": current[key]})


@given(deploys=st.lists(OBJECTS, min_size=1, max_size=5), current=OBJECTS, ami=AMIS)
def test_a_missed_push_heals_at_the_next_write(
    deploys: list[dict[str, Any]], current: dict[str, Any], ami: str
) -> None:
    """Only the last deploy's push lands: the parameter still owns no stale stack key."""
    retired: tuple[str, ...] = ()
    previous: dict[str, Any] | None = None
    start = json.dumps({**deploys[0], **current})
    for config in deploys:
        retired = retire(previous, config, retired)
        previous = config
    value = json.loads(parameter_value(start, deploys[-1], ami, retired))
    stack_keys = set().union(*deploys)
    assert {k for k in value if k in stack_keys} == set(deploys[-1])


def test_retire_is_the_same_whatever_order_retries_arrive_in() -> None:
    a, b = {"x": 1, "y": 2}, {"x": 1}
    assert retire(a, b) == ("y",)
    assert retire(a, b, retire(a, b)) == ("y",)
    # Re-adding a key to the config un-retires it; amiId is never retired.
    assert retire(b, {"y": 3, "x": 1}, ("y",)) == ()
    assert retire({"amiId": "ami-1"}, {}) == ()


def test_an_unchanged_value_is_returned_byte_for_byte() -> None:
    current = '{ "timeout": 3600, "amiId": "ami-1" }'
    assert parameter_value(current, {"timeout": 3600}, "ami-1") is current
    assert parameter_value(current, {"timeout": 3600.0}, "ami-1") != current
    assert parameter_value(current, {"timeout": True}, "ami-1") != current


def test_a_missing_parameter_is_created_from_the_config() -> None:
    value = parameter_value(None, {"instanceTypes": ["m7g.large"], "amiId": "x"}, "ami-1")
    assert json.loads(value) == {"instanceTypes": ["m7g.large"], "amiId": "ami-1"}


def test_a_value_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidConfig, match="SSM parameter value"):
        parameter_value("a,b,c", {}, "ami-1")


def test_drift_names_the_keys() -> None:
    desired = parameter_value(
        '{"timeout":3600,"amiId":"ami-1","gone":1}', {"timeout": 7200}, "ami-2", ["gone"]
    )
    assert drift('{"timeout":3600,"amiId":"ami-1","gone":1}', desired) == (
        "amiId",
        "gone",
        "timeout",
    )
    assert drift(desired, desired) == ()
    assert drift(None, desired) == ("missing",)


# --- whose keys a write in between holds (desired.written_by_others) ---------------------------

RECORD = AmiState(preset="p", config={"timeout": 60}, retired_keys=("secret",))


def _v(**others: Any) -> str:
    """A version: amistate's keys (which do not count) plus ``others``."""
    return json.dumps({"amiId": "ami-1", "timeout": 60, "secret": "x", **others})


def test_a_new_state_of_their_keys_in_between_wins_and_copies_do_not() -> None:
    base, theirs = _v(maxRunners=5), _v(maxRunners=5, owner="ci")
    # Ours was made from the base; in between: their write, then an amistate copy of the base.
    assert written_by_others(RECORD, [base, theirs, base], 1, base) == theirs
    # Ours was made from a stale copy; in between: the copy that kept their write.
    assert written_by_others(RECORD, [base, theirs, base, theirs], 3, base) == theirs
    # In between only a copy of an older state than ours: ours stays.
    assert written_by_others(RECORD, [base, theirs, base], 2, theirs) is None


def test_only_keys_amistate_does_not_own_count_and_a_removal_is_a_new_state() -> None:
    base = _v(maxRunners=5)
    # A write in between that changed only amistate's keys is nothing of theirs.
    changed = json.dumps({"amiId": "ami-9", "timeout": 1, "maxRunners": 5})
    assert written_by_others(RECORD, [base, changed], 1, base) is None
    removed = _v()
    assert written_by_others(RECORD, [base, removed], 1, base) == removed
    # Read nothing (no parameter): whatever someone created in between wins.
    assert written_by_others(RECORD, [base], 0, json.dumps({"amiId": "ami-1"})) == base


def test_putting_their_keys_back_as_they_were_is_taken_for_a_copy() -> None:
    """The limit docs/configuration.md states: a revert racing amistate's write is not kept."""
    old, new = _v(maxRunners=5), _v(maxRunners=7)
    assert written_by_others(RECORD, [old, new, old], 2, new) is None


_tricky: st.SearchStrategy[Any] = st.sampled_from(
    [1, 1.0, True, 0, 0.0, -0.0, False, None, "1", [], {}, (1,), 1e16]
)
json_like = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=3)
    | _tricky,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3)
    ),
    max_leaves=8,
)


def _canonical_equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def text(v: dict[str, Any]) -> str:
        return json.dumps(v, sort_keys=True, separators=(",", ":"), allow_nan=False)

    return text(a) == text(b)


@given(st.dictionaries(st.text(max_size=2), json_like, max_size=3), json_like, st.booleans())
def test_same_json_is_equality_of_the_canonical_json_text(
    a: dict[str, Any], value: Any, copy_of_a: bool
) -> None:
    """same_json compares without serialising on the hot path: it answers exactly what
    comparing the sorted, compact JSON texts answers (1, 1.0, true and -0.0 differ)."""
    b = json.loads(json.dumps(a)) if copy_of_a else {**a, "k": value}
    if copy_of_a and a:
        b[next(iter(a))] = value if value is not None else b[next(iter(a))]
    assert same_json(a, b) == _canonical_equal(a, b)
    assert same_json(a, dict(reversed(list(a.items())))) is True


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1, 1.0),
        (1, True),
        (0, False),
        (0.0, -0.0),
        (1e16, 10**16),
        ([1], [1.0]),
        ({"x": 1}, {"x": True}),
        ([1, 2], (1, 2)),
        ("1", 1),
        (None, False),
    ],
)
def test_same_json_tells_apart_what_json_tells_apart(a: Any, b: Any) -> None:
    assert same_json({"v": a}, {"v": b}) == _canonical_equal({"v": a}, {"v": b})
    assert same_json({"v": a}, {"v": a}) is True
