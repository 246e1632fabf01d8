"""SSM values: the desired value over arbitrary JSON, and reading amiId back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amistate.core.desired import parameter_value
from amistate.core.merge import ami_of
from amistate.errors import InvalidConfig

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=12), json_values, max_size=8))
def test_merge_sets_ami_and_keeps_every_other_key_and_type(config: dict[str, Any]) -> None:
    merged = json.loads(parameter_value(json.dumps(config), None, "ami-0123456789abcdef0"))
    assert merged["amiId"] == "ami-0123456789abcdef0"
    assert {k: v for k, v in merged.items() if k != "amiId"} == {
        k: v for k, v in config.items() if k != "amiId"
    }
    assert [k for k in merged if k != "amiId"] == [k for k in config if k != "amiId"]


def test_unchanged_ami_returns_the_value_byte_for_byte() -> None:
    value = '{ "timeout": 3600,  "amiId": "ami-1" }'
    assert parameter_value(value, None, "ami-1") is value


def test_missing_parameter_is_created_from_the_stored_config() -> None:
    config = {"instanceTypes": ["c7i.large"], "timeout": 3600, "spot": True}
    assert json.loads(parameter_value(None, config, "ami-2")) == {**config, "amiId": "ami-2"}


@pytest.mark.parametrize("value", ["[1, 2]", "42", '"text"', "not json", "", "null"])
def test_a_value_that_is_not_a_json_object_is_never_overwritten(value: str) -> None:
    with pytest.raises(InvalidConfig, match="SSM parameter value"):
        parameter_value(value, {"a": 1}, "ami-3")


def test_ami_of_reads_defensively() -> None:
    assert ami_of('{"amiId": "ami-9"}') == "ami-9"
    assert ami_of("[]") is None
    assert ami_of("nope") is None
    assert ami_of(None) is None
