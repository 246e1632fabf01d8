"""DynamoDB adapter details the contract suite cannot see: item layout, call counts, cache."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from amistate_adapters.dynamodb import DynamoPresetCatalog, DynamoStateStore

from amistate.errors import InvalidPresetName
from amistate.ports import Applied, Preset, Rejected
from amistate.rules import Transition
from tests.servers import Table

PIPELINE = "arn:aws:imagebuilder:us-west-2:111122223333:image-pipeline/linux"
BUILD = "arn:aws:imagebuilder:us-west-2:111122223333:image/linux/1.0.0/1"
T0 = datetime(2024, 1, 18, 17, 50, 56, tzinfo=UTC)
SUCCESS = Transition(
    register="all",
    key="2024-01-18T17:50:56.000000Z#000000001.000000000.000000000/000000001#2",
    status="ready",
    updated_at=T0,
    build_id=BUILD,
    ami_id="ami-0a1b2c3d4e5f60718",
    amis={"us-west-2": "ami-0a1b2c3d4e5f60718"},
)


class Calls:
    """The API operations a client made (botocore ``before-call`` events)."""

    def __init__(self, client: Any) -> None:
        self.names: list[str] = []
        client.meta.events.register("before-call.dynamodb", self._seen)

    def _seen(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)


def raw(table: Table, pk: str, sk: str) -> dict[str, Any]:
    key = {"PK": {"S": pk}, "SK": {"S": sk}}
    item: dict[str, Any] = table.client.get_item(TableName=table.name, Key=key)["Item"]
    return item


@pytest.fixture(params=["moto", "dynalite"])
def table(request: pytest.FixtureRequest) -> Table:
    found: Table = request.getfixturevalue(f"{request.param}_table")
    return found


def test_item_layout(table: Table) -> None:
    states = DynamoStateStore(table.name, table.client)
    DynamoPresetCatalog(table.name, table.client).register(
        Preset("linux", PIPELINE, {"timeout": 60, "spot": True})
    )
    states.create_initial("linux", T0)
    initial = raw(table, "AMI#linux", "LATEST")
    assert initial == {
        "PK": {"S": "AMI#linux"},
        "SK": {"S": "LATEST"},
        "status": {"S": "building"},
        "amiId": {"NULL": True},
        "updatedAt": {"NULL": True},
        "buildId": {"NULL": True},
        "orderKey": {"S": ""},
        "amiKey": {"S": ""},
        "amis": {"M": {}},
        "createdAt": {"S": "2024-01-18T17:50:56Z"},
        "config": {"S": '{"timeout":60,"spot":true}'},
        "pipelineArn": {"S": PIPELINE},
    }
    assert raw(table, f"PIPELINE#{PIPELINE}", "PRESET") == {
        "PK": {"S": f"PIPELINE#{PIPELINE}"},
        "SK": {"S": "PRESET"},
        "preset": {"S": "linux"},
    }
    states.apply("linux", SUCCESS)
    item = raw(table, "AMI#linux", "LATEST")
    assert item["amiId"] == {"S": "ami-0a1b2c3d4e5f60718"}
    assert item["updatedAt"] == {"S": "2024-01-18T17:50:56Z"}
    assert item["buildId"] == {"S": BUILD}
    assert item["status"] == {"S": "ready"}
    assert item["orderKey"] == item["amiKey"] == {"S": SUCCESS.key}
    assert item["amis"] == {"M": {"us-west-2": {"S": "ami-0a1b2c3d4e5f60718"}}}
    assert "reason" not in item
    assert json.loads(item["config"]["S"]) == {"timeout": 60, "spot": True}


def test_one_write_per_apply_and_the_winner_without_a_read_when_returned(table: Table) -> None:
    states = DynamoStateStore(table.name, table.client)
    calls = Calls(table.client)
    assert isinstance(states.apply("linux", SUCCESS), Applied)
    assert calls.names == ["UpdateItem"]
    calls.names.clear()
    assert isinstance(states.apply("linux", SUCCESS), Rejected)
    # moto returns the item with the failed check (ALL_OLD); dynalite does not: one GetItem then.
    assert calls.names == (["UpdateItem"] if table.backend == "moto" else ["UpdateItem", "GetItem"])


def test_preset_names_are_validated_before_any_call(table: Table) -> None:
    states = DynamoStateStore(table.name, table.client)
    catalog = DynamoPresetCatalog(table.name, table.client)
    calls = Calls(table.client)
    for name in ("", "../x", "a/b", "a#b", "x\n", "é"):
        with pytest.raises(InvalidPresetName):
            states.apply(name, SUCCESS)
        with pytest.raises(InvalidPresetName):
            states.get(name)
        with pytest.raises(InvalidPresetName):
            states.create_initial(name, T0)
        with pytest.raises(InvalidPresetName):
            catalog.register(Preset(name, PIPELINE, {}))
    assert calls.names == []


def test_mapping_cache_hits_expires_and_misses_briefly(table: Table) -> None:
    now = [0.0]
    writer = DynamoPresetCatalog(table.name, table.client)
    reader = DynamoPresetCatalog(
        table.name, table.client, cache_ttl=60, negative_ttl=5, clock=lambda: now[0]
    )
    calls = Calls(table.client)
    assert reader.preset_for_pipeline(PIPELINE) is None
    writer.register(Preset("linux", PIPELINE, {}))
    calls.names.clear()
    assert reader.preset_for_pipeline(PIPELINE) is None  # negative, cached
    now[0] = 5.1
    assert reader.preset_for_pipeline(PIPELINE) == "linux"
    assert reader.preset_for_pipeline(PIPELINE) == "linux"
    assert calls.names == ["GetItem"]
    writer.unregister("linux", PIPELINE)
    now[0] = 60
    assert reader.preset_for_pipeline(PIPELINE) == "linux"  # still cached
    now[0] = 65.2
    assert reader.preset_for_pipeline(PIPELINE) is None
    assert calls.names[-1] == "GetItem"


def test_register_and_unregister_refresh_their_own_cache(table: Table) -> None:
    catalog = DynamoPresetCatalog(table.name, table.client)
    assert catalog.preset_for_pipeline(PIPELINE) is None
    catalog.register(Preset("linux", PIPELINE, {}))
    assert catalog.preset_for_pipeline(PIPELINE) == "linux"
    catalog.unregister("linux", PIPELINE)
    assert catalog.preset_for_pipeline(PIPELINE) is None
