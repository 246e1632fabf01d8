"""Preset names are validated before they reach any key or parameter path."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amistate.core.names import PRESET_NAME, parameter_name, state_pk, validate_preset
from amistate.errors import InvalidPresetName


@pytest.mark.parametrize("name", ["linux-x64", "a", "Win_2022.large", "x" * 128])
def test_valid_names(name: str) -> None:
    assert validate_preset(name) == name
    assert parameter_name("/spot-runner/configs", name) == f"/spot-runner/configs/{name}"
    assert state_pk(name) == f"AMI#{name}"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "-lead",
        ".hidden",
        "a/b",
        "a..b",
        "../x",
        "a#b",
        "a\n",
        "a\x00",
        "é",
        "x" * 129,
        "a b",
        None,
        3,
    ],
)
def test_invalid_names(name: object) -> None:
    with pytest.raises(InvalidPresetName):
        validate_preset(name)


@given(st.text(max_size=140))
def test_every_accepted_name_is_path_and_key_safe(name: str) -> None:
    try:
        validate_preset(name)
    except InvalidPresetName:
        return
    assert PRESET_NAME.fullmatch(name)
    assert "/" not in name and "#" not in name and ".." not in name
    assert name.isprintable() and name == name.strip()
