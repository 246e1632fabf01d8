"""DynamoDB adapter details the contract suite cannot see: item layout, call counts, cache."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from amistate_adapters.dynamodb import DynamoPresetCatalog, DynamoStateStore

from amistate.core.amis import Amis
from amistate.core.builds import TrimBasis
from amistate.core.rules import Transition
from amistate.core.state import Pin
from amistate.errors import InvalidPresetName
from amistate.ports import Applied, Preset, Rejected
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
    amis=Amis.of({"us-west-2": "ami-0a1b2c3d4e5f60718"}, "us-west-2"),
)
AMIS = SUCCESS.amis


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
        "amiBuildId": {"NULL": True},
        "amiUpdatedAt": {"NULL": True},
        "history": {"M": {}},
        "config": {"S": '{"timeout":60,"spot":true}'},
        "retiredKeys": {"L": []},
        "targetAccounts": {"L": []},
        "pipelineArn": {"S": PIPELINE},
        "rolloutPolicy": {"S": "immediate"},
    }
    assert raw(table, f"PIPELINE#{PIPELINE}", "PRESET") == {
        "PK": {"S": f"PIPELINE#{PIPELINE}"},
        "SK": {"S": "PRESET"},
        "presets": {"SS": ["linux"]},
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
    assert item["amiBuildId"] == {"S": BUILD}
    assert item["amiUpdatedAt"] == {"S": "2024-01-18T17:50:56Z"}
    assert item["history"] == {
        "M": {
            SUCCESS.key: {
                "M": {
                    "buildId": {"S": BUILD},
                    "status": {"S": "ready"},
                    "updatedAt": {"S": "2024-01-18T17:50:56Z"},
                    "amiId": {"S": "ami-0a1b2c3d4e5f60718"},
                    "amis": {"M": {"us-west-2": {"S": "ami-0a1b2c3d4e5f60718"}}},
                }
            }
        }
    }
    assert "pin" not in item


def test_pin_and_failure_layout(table: Table) -> None:
    states = DynamoStateStore(table.name, table.client)
    states.apply("linux", SUCCESS)
    failure = Transition(
        register="all",
        key=SUCCESS.key[:-1] + "9",
        status="failed",
        updated_at=T0,
        build_id=BUILD + "0",
        reason="component failed",
    )
    states.apply("linux", failure)
    pin = Pin(BUILD, AMIS, T0, "bad")
    assert states.set_pin("linux", pin, expected=None) is not None
    item = raw(table, "AMI#linux", "LATEST")
    assert item["history"]["M"][failure.key] == {
        "M": {
            "buildId": {"S": BUILD + "0"},
            "status": {"S": "failed"},
            "updatedAt": {"S": "2024-01-18T17:50:56Z"},
            "amiId": {"NULL": True},
            "amis": {"M": {}},
            "reason": {"S": "component failed"},
        }
    }
    assert item["pin"] == {
        "M": {
            "buildId": {"S": BUILD},
            "amiId": {"S": "ami-0a1b2c3d4e5f60718"},
            "amis": {"M": {"us-west-2": {"S": "ami-0a1b2c3d4e5f60718"}}},
            "pinnedAt": {"S": "2024-01-18T17:50:56Z"},
            "reason": {"S": "bad"},
        }
    }
    assert (item["amiBuildId"], item["buildId"]) == ({"S": BUILD}, {"S": BUILD + "0"})


def test_calls_of_the_history_and_pin_writes(table: Table) -> None:
    states = DynamoStateStore(table.name, table.client)
    states.apply("linux", SUCCESS)
    calls = Calls(table.client)
    pin = Pin(BUILD, AMIS)
    assert states.set_pin("linux", pin, expected=None) is not None
    assert calls.names == ["GetItem", "UpdateItem"]  # read the history key, then write
    calls.names.clear()
    assert states.set_pin("linux", None, expected=BUILD) is not None
    assert calls.names == ["UpdateItem"]
    calls.names.clear()
    basis = TrimBasis(SUCCESS.key)
    assert states.forget_builds("linux", [], basis)
    assert calls.names == []
    assert states.forget_builds("linux", [f"k{i}" for i in range(120)], basis)
    assert calls.names == ["UpdateItem"] * 3  # 50 keys a call
    calls.names.clear()
    states.keep_build("linux", SUCCESS.entry)
    assert calls.names == ["UpdateItem"]


def test_one_write_per_apply_and_the_winner_without_a_read_when_returned(table: Table) -> None:
    states = DynamoStateStore(table.name, table.client)
    states.create_initial("linux", T0)  # as deployed: the record and its history map exist
    calls = Calls(table.client)
    assert isinstance(states.apply("linux", SUCCESS), Applied)
    assert calls.names == ["UpdateItem"]
    calls.names.clear()
    assert isinstance(states.apply("linux", SUCCESS), Rejected)
    # moto returns the item with the failed check (ALL_OLD); dynalite does not: one GetItem then.
    assert calls.names == (["UpdateItem"] if table.backend == "moto" else ["UpdateItem", "GetItem"])


def test_apply_without_any_record_writes_the_whole_history(table: Table) -> None:
    states = DynamoStateStore(table.name, table.client)
    calls = Calls(table.client)
    record = states.apply("linux", SUCCESS)
    assert isinstance(record, Applied)
    assert dict(record.record.history) == {SUCCESS.key: SUCCESS.entry}
    # no map to write into: the nested form is refused, the whole form creates the record
    assert calls.names == ["UpdateItem", "UpdateItem"]


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
        with pytest.raises(InvalidPresetName):
            catalog.unregister(name, PIPELINE)
        with pytest.raises(InvalidPresetName):
            states.keep_build(name, SUCCESS.entry)
        with pytest.raises(InvalidPresetName):
            states.forget_builds(name, [], TrimBasis(SUCCESS.key))
        with pytest.raises(InvalidPresetName):
            states.fall_back(name, SUCCESS.key, SUCCESS.entry)
        with pytest.raises(InvalidPresetName):
            states.set_pin(name, None, None)
        with pytest.raises(InvalidPresetName):
            states.set_pin(name, Pin(BUILD, AMIS), None)
    assert calls.names == []


def put_mapping(table: Table, *presets: str) -> None:
    """Another process's deploy: the mapping item written behind this process's back."""
    item: dict[str, Any] = {"PK": {"S": f"PIPELINE#{PIPELINE}"}, "SK": {"S": "PRESET"}}
    if presets:
        item["presets"] = {"SS": list(presets)}
    table.client.put_item(TableName=table.name, Item=item)


def test_mapping_cache_hits_expires_and_misses_briefly(table: Table) -> None:
    now = [0.0]
    reader = DynamoPresetCatalog(
        table.name, table.client, cache_ttl=60, negative_ttl=5, clock=lambda: now[0]
    )
    calls = Calls(table.client)
    assert reader.presets_for_pipeline(PIPELINE) == ()
    put_mapping(table, "linux")
    calls.names.clear()
    assert reader.presets_for_pipeline(PIPELINE) == ()  # negative, cached
    now[0] = 5.1
    assert reader.presets_for_pipeline(PIPELINE) == ("linux",)
    assert reader.presets_for_pipeline(PIPELINE) == ("linux",)
    assert calls.names == ["GetItem"]
    put_mapping(table)
    now[0] = 60
    assert reader.presets_for_pipeline(PIPELINE) == ("linux",)  # still cached
    now[0] = 65.2
    assert reader.presets_for_pipeline(PIPELINE) == ()
    assert calls.names[-1] == "GetItem"


def test_writes_in_this_process_refresh_every_catalogs_cache(table: Table) -> None:
    now = [0.0]
    writer = DynamoPresetCatalog(table.name, table.client)
    reader = DynamoPresetCatalog(
        table.name, table.client, cache_ttl=60, negative_ttl=60, clock=lambda: now[0]
    )
    assert reader.presets_for_pipeline(PIPELINE) == ()
    writer.register(Preset("linux", PIPELINE, {}))
    assert reader.presets_for_pipeline(PIPELINE) == ("linux",)
    writer.register(Preset("linux-large", PIPELINE, {}))
    assert reader.presets_for_pipeline(PIPELINE) == ("linux", "linux-large")
    writer.unregister("linux", PIPELINE)
    assert reader.presets_for_pipeline(PIPELINE) == ("linux-large",)
    calls = Calls(table.client)
    assert reader.presets_for_pipeline(PIPELINE) == ("linux-large",)
    assert calls.names == []  # cached again until the next write


def test_register_and_unregister_refresh_their_own_cache(table: Table) -> None:
    catalog = DynamoPresetCatalog(table.name, table.client)
    assert catalog.presets_for_pipeline(PIPELINE) == ()
    catalog.register(Preset("linux", PIPELINE, {}))
    assert catalog.presets_for_pipeline(PIPELINE) == ("linux",)
    catalog.unregister("linux", PIPELINE)
    assert catalog.presets_for_pipeline(PIPELINE) == ()
    key = {"PK": {"S": f"PIPELINE#{PIPELINE}"}, "SK": {"S": "PRESET"}}
    assert "Item" not in table.client.get_item(TableName=table.name, Key=key)
