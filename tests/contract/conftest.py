"""The backends every contract test runs on: in memory, moto server, dynalite."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from amistate_adapters.dynamodb import DynamoPresetCatalog, DynamoStateStore
from amistate_adapters.memory import (
    MemoryParameterStore,
    MemoryPresetCatalog,
    MemoryStateStore,
    MemoryTable,
)
from amistate_adapters.ssm import SsmParameterStore
from attrs import frozen

from amistate.ports import Parameter, ParameterStore, ParameterType, PresetCatalog, StateStore
from tests.servers import REGION, Endpoint, Table


@frozen
class TablePorts:
    """The two ports that share the DynamoDB table, on one backend."""

    backend: str
    states: StateStore
    catalog: PresetCatalog


@pytest.fixture(params=["memory", "moto", "dynalite"])
def table_ports(request: pytest.FixtureRequest) -> TablePorts:
    if request.param == "memory":
        table = MemoryTable()
        return TablePorts("memory", MemoryStateStore(table), MemoryPresetCatalog(table))
    found: Table = request.getfixturevalue(f"{request.param}_table")
    return TablePorts(
        request.param,
        DynamoStateStore(found.name, found.client),
        DynamoPresetCatalog(found.name, found.client),
    )


@frozen
class RawParameter:
    """A parameter as the backend itself holds it (not through the port)."""

    value: str
    type: str
    key_id: str | None
    tier: str


@frozen
class ParameterBackend:
    """The port, plus backdoors to seed and inspect parameters independently of it."""

    backend: str
    store: ParameterStore
    seed: Callable[[str, str, str, str | None], None]  # name, value, type, key id
    raw: Callable[[str], RawParameter | None]
    seed_advanced: Callable[[str, str], None]  # name, value: an Advanced-tier String


def _kind(kind: str) -> ParameterType:
    if kind == "SecureString":
        return "SecureString"
    assert kind == "String", kind
    return "String"


def _memory_backend() -> ParameterBackend:
    store = MemoryParameterStore(REGION)

    def seed(name: str, value: str, kind: str, key_id: str | None) -> None:
        store.parameters[name] = Parameter(name, value, _kind(kind), key_id)

    def raw(name: str) -> RawParameter | None:
        found = store.parameters.get(name)
        if found is None:
            return None
        assert found.tier is not None
        return RawParameter(found.value, found.type, found.key_id, found.tier)

    def seed_advanced(name: str, value: str) -> None:
        store.parameters[name] = Parameter(name, value, "String", None, "Advanced")

    return ParameterBackend("memory", store, seed, raw, seed_advanced)


def _moto_backend(moto: Endpoint) -> ParameterBackend:
    client = moto.client("ssm")

    def seed(name: str, value: str, kind: str, key_id: str | None) -> None:
        extra = {"KeyId": key_id} if key_id else {}
        client.put_parameter(Name=name, Value=value, Type=kind, Overwrite=True, **extra)

    def raw(name: str) -> RawParameter | None:
        flt = [{"Key": "Name", "Option": "Equals", "Values": [name]}]
        described = client.describe_parameters(ParameterFilters=flt)["Parameters"]
        if not described:
            return None
        value = client.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        meta = described[0]
        return RawParameter(value, meta["Type"], meta.get("KeyId"), meta.get("Tier", "Standard"))

    def seed_advanced(name: str, value: str) -> None:
        client.put_parameter(Name=name, Value=value, Type="String", Tier="Advanced")

    return ParameterBackend("moto", SsmParameterStore(client, REGION), seed, raw, seed_advanced)


@pytest.fixture(params=["memory", "moto"])
def parameters(request: pytest.FixtureRequest) -> ParameterBackend:
    if request.param == "memory":
        return _memory_backend()
    return _moto_backend(request.getfixturevalue("moto"))
