"""The reader API (amistate.read) against moto's server: one call each, clients reused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from amistate_adapters import clients

from amistate import read
from amistate.core.state import AmiState
from amistate.errors import (
    ConfigurationError,
    InvalidPresetName,
    PresetNotBuilt,
    UnknownPreset,
)
from amistate.testing import sns_envelope, sns_event
from tests.cli.conftest import CONFIG, PREFIX, Cli

AMI = "ami-0a1b2c3d4e5f60718"


@pytest.fixture
def reader_env(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    for name in ("AMISTATE_TABLE", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.setenv(name, cli.env[name])
    monkeypatch.delenv("AMISTATE_PARAMETER_PREFIX", raising=False)
    clients.clear()
    read.reset()
    yield cli
    read.reset()
    clients.clear()


class Calls:
    """Counts API calls on the process's cached clients (botocore before-call)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)

    def watch(self, *services: str) -> Calls:
        for service in services:
            client: Any = clients.client(service, "us-west-2")  # type: ignore[call-overload]
            client.meta.events.register("before-call", self)
        return self


def _ready(cli: Cli) -> None:
    cli.init("linux-x64")
    event = sns_event(sns_envelope(cli.image("linux-x64", 7, ami=AMI), "2024-01-19T10:00:00Z"))
    assert cli.json("replay", cli.write("e.json", event))["failures"] == 0


def test_latest_and_preset_config_one_call_each_with_reused_clients(reader_env: Cli) -> None:
    _ready(reader_env)
    calls = Calls().watch("dynamodb", "ssm")

    state = read.latest("linux-x64")
    assert isinstance(state, AmiState)
    assert state.preset == "linux-x64"
    assert state.status == "ready"
    assert state.ami_id == AMI
    assert state.updated_at == datetime(2024, 1, 19, 10, tzinfo=UTC)
    assert state.build_id is not None
    assert state.build_id.endswith("/1.0.0/7")
    assert calls.names == ["GetItem"]

    config = read.preset_config("linux-x64")
    assert dict(config) == {**CONFIG, "amiId": AMI}
    assert calls.names == ["GetItem", "GetParameter"]

    # Again: the same cached clients (the hooks above still see every call), one call each.
    read.latest("linux-x64")
    read.preset_config("linux-x64")
    assert calls.names == ["GetItem", "GetParameter", "GetItem", "GetParameter"]


def test_unknown_presets_and_bad_names_are_clear_errors(reader_env: Cli) -> None:
    reader_env.init("windows")  # registered, no parameter yet
    with pytest.raises(UnknownPreset, match=r"unknown preset 'nope': table .* no record AMI#nope"):
        read.latest("nope")
    with pytest.raises(PresetNotBuilt, match="'windows' is registered but has no good build"):
        read.preset_config("windows")
    with pytest.raises(UnknownPreset, match=rf"no SSM parameter {PREFIX}/nope, and table"):
        read.preset_config("nope")
    with pytest.raises(InvalidPresetName):
        read.latest("../other")
    assert read.latest("windows").status == "building"
    assert read.latest("windows").ami_id is None


def test_explicit_reader_and_missing_table(
    reader_env: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader_env.put_parameter("custom", {"amiId": AMI, "timeout": 60})
    monkeypatch.delenv("AMISTATE_TABLE")
    read.reset()
    with pytest.raises(ConfigurationError, match="AMISTATE_TABLE is not set"):
        read.latest("linux-x64")
    # preset_config needs no table.
    assert read.preset_config("custom") == {"amiId": AMI, "timeout": 60}
    reader = read.Reader(table=reader_env.table, parameter_prefix="/elsewhere")
    with pytest.raises(UnknownPreset, match="no SSM parameter /elsewhere/custom"):
        reader.preset_config("custom")
    reader_env.ssm.put_parameter(
        Name="/elsewhere/custom", Value=json.dumps({"amiId": AMI}), Type="SecureString"
    )
    assert reader.preset_config("custom") == {"amiId": AMI}
