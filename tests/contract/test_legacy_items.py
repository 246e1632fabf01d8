"""Items written before history, pins and multi-preset pipelines (DynamoDB only:
the memory table has no older layout). Seeded raw, then used through the ports."""

from __future__ import annotations

from typing import Any

import pytest
from amistate_adapters.dynamodb import DynamoPresetCatalog, DynamoStateStore
from attrs import evolve

from amistate.core.amis import Amis
from amistate.core.builds import TrimBasis
from amistate.core.state import AmiState
from amistate.ports import Preset
from tests.adapters.test_dynamodb import Calls, raw
from tests.contract.test_state_store import PIPELINE, applied, rejected, transition
from tests.servers import Table

OLD_AMI = "ami-0123456789abcdef0"
BUILD = "arn:aws:imagebuilder:us-west-2:111122223333:image/linux/1.0.0/3"


@pytest.fixture(params=["moto", "dynalite"])
def table(request: pytest.FixtureRequest) -> Table:
    found: Table = request.getfixturevalue(f"{request.param}_table")
    return found


def seed_legacy_record(table: Table, preset: str = "p") -> None:
    """A state item as the code before history wrote it."""
    item: dict[str, Any] = {
        "PK": {"S": f"AMI#{preset}"},
        "SK": {"S": "LATEST"},
        "status": {"S": "ready"},
        "amiId": {"S": OLD_AMI},
        "updatedAt": {"S": "2024-01-18T16:00:00Z"},
        "buildId": {"S": BUILD},
        "orderKey": {"S": "2024-01-18T16:00:00.000000Z#000000000"},
        "amiKey": {"S": "2024-01-18T16:00:00.000000Z#000000000"},
        "amis": {"M": {"us-west-2": {"S": OLD_AMI}}},
        "createdAt": {"S": "2024-01-01T00:00:00Z"},
        "config": {"S": '{"timeout":60}'},
        "pipelineArn": {"S": PIPELINE},
    }
    table.client.put_item(TableName=table.name, Item=item)


LEGACY = AmiState(
    preset="p",
    status="ready",
    updated_at=transition(0).updated_at.replace(hour=16, second=0, microsecond=0),
    build_id=BUILD,
    order_key="2024-01-18T16:00:00.000000Z#000000000",
    ami_key="2024-01-18T16:00:00.000000Z#000000000",
    amis=Amis.of({"us-west-2": OLD_AMI}, "us-west-2"),
    config={"timeout": 60},
    pipeline_arn=PIPELINE,
)


def test_a_legacy_record_reads_with_defaults(table: Table) -> None:
    seed_legacy_record(table)
    assert DynamoStateStore(table.name, table.client).get("p") == LEGACY
    assert LEGACY.behind == {}  # written before accountsBehind: no account is behind


def test_accounts_behind_are_recorded_on_a_legacy_record(table: Table) -> None:
    seed_legacy_record(table)
    states = DynamoStateStore(table.name, table.client)
    states.set_behind("p", {"444455556666": "444455556666: no copy in us-west-2"})
    assert states.get("p") == evolve(
        LEGACY, behind={"444455556666": "444455556666: no copy in us-west-2"}
    )


def test_apply_on_a_legacy_record_creates_the_history(table: Table) -> None:
    seed_legacy_record(table)
    states = DynamoStateStore(table.name, table.client)
    calls = Calls(table.client)
    record = applied(states.apply("p", transition(1)))
    assert record == transition(1).apply(LEGACY, "p")
    assert dict(record.history) == {transition(1).key: transition(1).entry}
    assert calls.names == ["UpdateItem", "UpdateItem"]  # nested refused, then the whole map
    assert states.get("p") == record
    calls.names.clear()
    applied(states.apply("p", transition(2, "failed")))
    assert calls.names == ["UpdateItem"]  # the map exists now: one write again


def test_a_stale_event_on_a_legacy_record_is_rejected(table: Table) -> None:
    seed_legacy_record(table)
    states = DynamoStateStore(table.name, table.client)
    old = transition(-4000)  # 15:53:20, before the legacy 16:00
    assert rejected(states.apply("p", old)) == LEGACY
    assert states.get("p") == LEGACY


def test_the_map_created_by_a_racer_between_the_two_writes(table: Table) -> None:
    """The whole form fails (the map exists now): the nested form is retried, nothing lost."""
    seed_legacy_record(table)
    states = DynamoStateStore(table.name, table.client)
    racer = DynamoStateStore(table.name, table.endpoint.dynamodb())
    seen: list[str] = []

    def race(model: Any, **_: Any) -> None:
        seen.append(model.name)
        if seen.count("UpdateItem") == 2:  # just before the whole-map write
            racer.keep_build("p", transition(7, "failed").entry)

    table.client.meta.events.register("before-call.dynamodb.UpdateItem", race)
    record = applied(states.apply("p", transition(1)))
    assert set(record.history) == {transition(1).key, transition(7).key}
    assert record.status == "ready"


def test_keep_forget_and_pin_on_a_legacy_record(table: Table) -> None:
    seed_legacy_record(table)
    states = DynamoStateStore(table.name, table.client)
    legacy = states.get("p")
    assert legacy is not None
    # no map: nothing to forget, no error
    assert states.forget_builds("p", [transition(1).key], TrimBasis.of(legacy))
    assert states.set_pin("p", None, expected="x") is None
    states.keep_build("p", transition(1).entry)
    record = states.get("p")
    assert record is not None
    assert dict(record.history) == {transition(1).key: transition(1).entry}
    assert states.set_pin("p", None, expected=None) == record


def seed_legacy_mapping(table: Table, pipeline: str, preset: str) -> None:
    key = {"PK": {"S": f"PIPELINE#{pipeline}"}, "SK": {"S": "PRESET"}}
    table.client.put_item(TableName=table.name, Item={**key, "preset": {"S": preset}})


def test_a_legacy_mapping_is_read_and_merged_on_register(table: Table) -> None:
    seed_legacy_mapping(table, PIPELINE, "old")
    catalog = DynamoPresetCatalog(table.name, table.client)
    assert catalog.presets_for_pipeline(PIPELINE) == ("old",)
    catalog.register(Preset("new", PIPELINE, {}))
    assert catalog.presets_for_pipeline(PIPELINE) == ("new", "old")
    item = raw(table, f"PIPELINE#{PIPELINE}", "PRESET")
    assert "preset" not in item  # folded into the set
    assert sorted(item["presets"]["SS"]) == ["new", "old"]
    catalog.unregister("old", PIPELINE)
    assert catalog.presets_for_pipeline(PIPELINE) == ("new",)


def test_unregister_of_a_legacy_mapping(table: Table) -> None:
    seed_legacy_mapping(table, PIPELINE, "old")
    catalog = DynamoPresetCatalog(table.name, table.client)
    catalog.unregister("other", PIPELINE)  # not its preset: the mapping stays
    assert catalog.presets_for_pipeline(PIPELINE) == ("old",)
    catalog.unregister("old", PIPELINE)
    assert catalog.presets_for_pipeline(PIPELINE) == ()
    key = {"PK": {"S": f"PIPELINE#{PIPELINE}"}, "SK": {"S": "PRESET"}}
    assert "Item" not in table.client.get_item(TableName=table.name, Key=key)


def test_an_item_from_before_per_region_amis_reads_its_ami_in_the_builds_region(
    table: Table,
) -> None:
    """``amiId`` alone (no ``amis``, no ``copies``): the AMI of the build's own region."""
    seed_legacy_record(table)
    key = {"PK": {"S": "AMI#p"}, "SK": {"S": "LATEST"}}
    table.client.update_item(TableName=table.name, Key=key, UpdateExpression="REMOVE amis")
    record = DynamoStateStore(table.name, table.client).get("p")
    assert record is not None
    assert (record.ami_for("us-west-2"), record.ami_for("eu-west-1")) == (OLD_AMI, None)
    assert record.amis.copies() == {}
