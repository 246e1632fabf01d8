"""``amistate.read.runner_ami``: the AMI the runners launch, pin- and rollback-aware, with a
distinct error for a preset registered but not built yet (issue 23, point 6). Builds go
through the state Lambda's handler and pins through ``amistate.cli.main.main``, against
moto's server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from amistate_adapters import clients

import amistate
from amistate import read
from amistate.errors import PresetNotBuilt, UnknownPreset
from tests.cli.conftest import Operator, init


@pytest.fixture
def reader(op: Operator) -> Iterator[None]:
    clients.clear()
    read.reset()
    yield
    read.reset()
    clients.clear()


def test_runner_ami_is_the_pinned_or_rolled_back_ami_not_the_newest(
    op: Operator, reader: None
) -> None:
    init(op, "linux-x64")
    b1, ami1 = op.build("linux-x64", 1)
    b2, ami2 = op.build("linux-x64", 2)

    live = read.runner_ami("linux-x64")
    assert (live.preset, live.region, live.ami_id, live.build_id) == (
        "linux-x64",
        "us-west-2",
        ami2,
        b2,
    )
    assert live.pin is None
    assert live.candidate_ami_id is None

    assert op.run("rollback", "linux-x64", "--reason", "INC-7")[0] == 0
    rolled = read.runner_ami("linux-x64")
    assert (rolled.ami_id, rolled.build_id) == (ami1, b1)
    assert rolled.pin is not None and rolled.pin.reason == "INC-7"
    # What the parameter holds, which the runners read; the newest build is still ami2.
    assert op.cli.parameter("linux-x64")["amiId"] == ami1
    assert read.latest("linux-x64").ami_id == ami2

    assert op.run("unpin", "linux-x64")[0] == 0
    assert read.runner_ami("linux-x64").ami_id == ami2


def test_registered_but_not_built_is_its_own_error_not_unknown(op: Operator, reader: None) -> None:
    init(op, "windows")  # registered, its first build not finished
    with pytest.raises(PresetNotBuilt, match="'windows' is registered but has no good build"):
        read.runner_ami("windows")
    with pytest.raises(PresetNotBuilt, match="'windows' is registered but has no good build"):
        read.preset_config("windows")
    for call in (read.runner_ami, read.preset_config, read.latest):
        with pytest.raises(UnknownPreset, match="unknown preset 'nope'"):
            call("nope")
    assert not issubclass(PresetNotBuilt, UnknownPreset)
    assert issubclass(PresetNotBuilt, LookupError)
    # latest still answers with the state: building, no AMI.
    assert read.latest("windows").ami_id is None


def test_the_reader_types_are_exported() -> None:
    from amistate.core.state import AmiState, BuildRecord, Pin, RunnerAmi

    for name, kind in (
        ("AmiState", AmiState),
        ("BuildRecord", BuildRecord),
        ("Pin", Pin),
        ("RunnerAmi", RunnerAmi),
    ):
        assert getattr(read, name) is kind
        assert getattr(amistate, name) is kind
        assert name in read.__all__ and name in amistate.__all__


def test_the_reader_example_in_docs_cli_runs(op: Operator, reader: None) -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    section = text[text.index("## The reader API") :]
    example = section[section.index("```python\n") + 10 : section.index("```\n", 10)]
    init(op, "linux-x64")
    build, ami = op.build("linux-x64", 1)
    names: dict[str, Any] = {}
    exec(compile(example, "docs/cli.md", "exec"), names)  # noqa: S102 (the docs' own example)
    assert (names["ami"].ami_id, names["ami"].build_id) == (ami, build)
    assert names["config"]["amiId"] == ami
