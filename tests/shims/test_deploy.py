"""The deploy use case (amistate.usecases.deploy) over the in-memory ports: validate, then write."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from amistate_adapters.memory import (
    MemoryImageCatalog,
    MemoryParameterStore,
    MemoryPipelineStarter,
    MemoryPresetCatalog,
    MemoryStateStore,
    MemoryTable,
)

from amistate.core.settings import Settings
from amistate.core.state import Rollout
from amistate.usecases.converge import Converger
from amistate.usecases.deploy import (
    DeployResult,
    InvalidProperties,
    PresetDeployer,
    PreviousPreset,
    client_token,
    parse_properties,
    parse_request,
    preset_of_physical_id,
)
from amistate.usecases.service import AmiService

PIPELINE = "arn:aws:imagebuilder:us-west-2:111122223333:image-pipeline/spot-runner-linux-x64"
OTHER_PIPELINE = "arn:aws:imagebuilder:us-west-2:111122223333:image-pipeline/other"
CONFIG = {"instanceTypes": ["c7g.large"], "timeout": 3600, "spot": True, "labels": ["a"]}


def props(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "ServiceToken": "arn:aws:lambda:us-west-2:111122223333:function:cr",
        "PresetName": "linux-x64",
        "PipelineArn": PIPELINE,
        "Config": json.dumps(CONFIG),
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def deployer() -> tuple[PresetDeployer, MemoryTable, MemoryPipelineStarter]:
    table = MemoryTable()
    starter = MemoryPipelineStarter()
    clock = datetime(2024, 1, 18, tzinfo=UTC)
    settings = Settings(home_region="us-west-2", account="111122223333", partition="aws")
    catalog, states = MemoryPresetCatalog(table), MemoryStateStore(table)
    converger = Converger(settings, states, {"us-west-2": MemoryParameterStore("us-west-2")})
    service = AmiService(
        settings=settings,
        states=states,
        catalog=catalog,
        images=MemoryImageCatalog(),
        converger=converger,
    )
    d = PresetDeployer(
        settings=settings,
        catalog=catalog,
        states=states,
        starter=starter,
        converger=converger,
        service=service,
        clock=lambda: clock,
    )
    return d, table, starter


def old(raw: object) -> PreviousPreset:
    """Update's OldResourceProperties, typed as the custom resource types them."""
    event = {"RequestType": "Update", "ResourceProperties": props(), "OldResourceProperties": raw}
    return parse_request(event).previous


def delete(d: PresetDeployer, raw: object, physical_id: object) -> DeployResult:
    """A Delete request with these raw properties and physical ID, typed, then deleted."""
    event = {"RequestType": "Delete", "ResourceProperties": raw, "PhysicalResourceId": physical_id}
    request = parse_request(event)
    return d.delete(request.existing_preset, request.previous, request.physical_id or "amistate")


def test_valid_properties_parse() -> None:
    parsed = parse_properties(props(StartBuild="false"))
    assert parsed.preset == "linux-x64"
    assert parsed.pipeline_arn == PIPELINE
    assert parsed.config == CONFIG
    assert parsed.config["timeout"] == 3600  # a number stays a number
    assert parsed.start_build is False
    assert parse_properties(props()).start_build is True
    assert parsed.physical_id == "amistate:linux-x64"
    assert parsed.rollout == Rollout()  # immediate: today's behaviour
    soak = parse_properties(props(RolloutPolicy="soak", SoakTime="PT6H")).rollout
    assert soak == Rollout("soak", timedelta(hours=6))


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"PresetName": None}, "PresetName: required"),
        ({"PresetName": "../other"}, "PresetName: invalid preset name"),
        ({"PresetName": "a/b"}, "PresetName"),
        ({"PresetName": 7}, "PresetName"),
        ({"PipelineArn": None}, "PipelineArn: missing"),
        ({"PipelineArn": "arn:aws:s3:::bucket"}, "PipelineArn"),
        ({"Config": None}, "Config: required"),
        ({"Config": "[1, 2]"}, "Config: expected a JSON object, got list"),
        ({"Config": "{not json"}, "Config: not valid JSON"),
        ({"Config": {"timeout": "3600"}}, "Config: expected a JSON object in a string"),
        ({"Config": json.dumps({"x": "y" * 9000})}, "Config: 9"),
        ({"StartBuild": "yes"}, 'StartBuild: expected "true" or "false", got "yes"'),
        ({"StartBuild": "True"}, "StartBuild"),
        ({"StartBuild": 1}, "StartBuild"),
        ({"RolloutPolicy": "canary"}, "RolloutPolicy: expected one of immediate, manual, soak"),
        ({"RolloutPolicy": "soak"}, "SoakTime: required with RolloutPolicy soak"),
        ({"RolloutPolicy": "soak", "SoakTime": "6 hours"}, "SoakTime: '6 hours' is not"),
        ({"RolloutPolicy": "soak", "SoakTime": 21600}, "SoakTime: expected an ISO-8601"),
        ({"SoakTime": "PT1H"}, "SoakTime: only with RolloutPolicy soak"),
        ({"TargetAccounts": "44445555666"}, "TargetAccounts: '44445555666' is not a 12-digit"),
        ({"TargetAccounts": ["444455556666", "x"]}, "TargetAccounts: 'x' is not a 12-digit"),
        ({"TargetAccounts": [444455556666]}, "TargetAccounts: a number is not a 12-digit"),
        ({"TargetAccounts": {"a": "b"}}, "TargetAccounts: expected a list of account IDs"),
    ],
)
def test_invalid_properties_name_the_property(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(InvalidProperties) as caught:
        parse_properties(props(**changes))
    assert named in str(caught.value)


@pytest.mark.parametrize(
    "given",
    [
        ["777788889999", "444455556666", "444455556666"],
        "777788889999, 444455556666",
        "444455556666,777788889999,",
    ],
)
def test_target_accounts_are_a_list_or_one_comma_separated_string(given: object) -> None:
    parsed = parse_properties(props(TargetAccounts=given))
    assert parsed.target_accounts == ("444455556666", "777788889999")
    assert parse_properties(props()).target_accounts == ()
    assert parse_properties(props(TargetAccounts="")).target_accounts == ()


def test_target_accounts_reach_the_record_and_the_build_account_is_refused() -> None:
    d, table, _ = deployer()
    d.create(parse_properties(props(TargetAccounts="444455556666")), "t1")
    assert table.records["linux-x64"].target_accounts == ("444455556666",)
    with pytest.raises(
        InvalidProperties, match="TargetAccounts: 111122223333 is the build account"
    ):
        d.create(parse_properties(props(TargetAccounts="111122223333")), "t2")
    assert table.records["linux-x64"].target_accounts == ("444455556666",)  # nothing written


def test_properties_must_be_an_object() -> None:
    with pytest.raises(InvalidProperties, match="ResourceProperties"):
        parse_properties(None)


def test_client_token_is_deterministic_and_short() -> None:
    token = client_token("stack", "Logical", "request-1")
    assert token == client_token("stack", "Logical", "request-1")
    assert token != client_token("stack", "Logical", "request-2")
    assert 1 <= len(token) <= 36


def test_physical_ids_round_trip() -> None:
    assert preset_of_physical_id("amistate:linux-x64") == "linux-x64"
    assert preset_of_physical_id("amistate:../x") is None
    assert preset_of_physical_id("2024/01/18/[$LATEST]abc") is None
    assert preset_of_physical_id(None) is None


def test_create_registers_creates_state_and_starts_one_build() -> None:
    d, table, starter = deployer()
    result = d.create(parse_properties(props()), "token-1")
    assert result.physical_id == "amistate:linux-x64"
    assert result.state_created
    assert table.pipelines == {PIPELINE: {"linux-x64"}}
    record = table.records["linux-x64"]
    assert (record.status, record.ami_id, record.config) == ("building", None, CONFIG)
    assert result.build_arn is not None and result.data["BuildArn"] == result.build_arn
    # The same request again (a retried delivery) starts nothing new.
    again = d.create(parse_properties(props()), "token-1")
    assert again.build_arn == result.build_arn and not again.state_created
    assert len(starter.builds) == 1


def test_create_without_build() -> None:
    d, _, starter = deployer()
    result = d.create(parse_properties(props(StartBuild="false")), "t")
    assert result.build_arn is None and result.data["BuildArn"] == ""
    assert starter.builds == []


def test_update_moves_the_mapping_and_builds_only_on_a_new_pipeline() -> None:
    d, table, starter = deployer()
    d.create(parse_properties(props()), "t1")
    same = d.update(parse_properties(props(Config='{"timeout": 60}')), old(props()), "t2")
    assert same.build_arn is None and len(starter.builds) == 1
    assert table.records["linux-x64"].config == {"timeout": 60}
    moved = d.update(parse_properties(props(PipelineArn=OTHER_PIPELINE)), old(props()), "t3")
    assert moved.build_arn is not None and len(starter.builds) == 2
    assert table.pipelines == {OTHER_PIPELINE: {"linux-x64"}}
    assert moved.physical_id == same.physical_id == "amistate:linux-x64"


def test_update_with_a_new_name_is_a_replacement() -> None:
    d, table, _ = deployer()
    d.create(parse_properties(props()), "t1")
    result = d.update(parse_properties(props(PresetName="renamed")), old(props()), "t2")
    assert result.action == "replaced" and result.physical_id == "amistate:renamed"
    assert table.records["renamed"].status == "building"
    # CloudFormation then deletes the old resource: its mapping is not the new one's.
    delete(d, props(), "amistate:linux-x64")
    assert table.pipelines == {PIPELINE: {"renamed"}}
    assert "linux-x64" in table.records  # the old state record is kept


def test_delete_keeps_the_state_and_tolerates_anything() -> None:
    d, table, _ = deployer()
    d.create(parse_properties(props()), "t1")
    assert delete(d, props(), "amistate:linux-x64").action == "deleted"
    assert table.pipelines == {}
    assert table.records["linux-x64"].status == "building"
    assert delete(d, props(), "amistate:linux-x64").action == "deleted"  # again: nothing left
    assert delete(d, {"PresetName": "../x"}, "amistate:../x").action == "delete-nothing"
    assert delete(d, None, None).action == "delete-nothing"
    assert delete(d, props(), "2024/01/18/[$LATEST]abc").action == "delete-nothing"


def test_a_pipeline_of_another_account_or_region_is_refused_before_any_write() -> None:
    d, table, starter = deployer()
    for foreign in (
        PIPELINE.replace("111122223333", "444455556666"),
        PIPELINE.replace("us-west-2", "eu-west-1"),
    ):
        with pytest.raises(InvalidProperties, match=r"PipelineArn: .* not in this function's"):
            d.create(parse_properties(props(PipelineArn=foreign)), "t1")
    assert table.records == {} and table.pipelines == {} and starter.builds == []
