"""The preset custom resource, invoked as CloudFormation would, over the real env-based wiring.

The raw handler answers a local ResponseURL server; DynamoDB is moto's server
and Image Builder a local fake. ``on_event`` (CDK Provider) runs the same
use case and is checked for its return shape.
"""

from __future__ import annotations

import json
import logging

import pytest

from amistate.shims import custom_resource
from tests.shims.conftest import CONFIG, PIPELINE, Aws
from tests.shims.fakes import ACCOUNT, REGION, Context, sample

OTHER_PIPELINE = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image-pipeline/spot-runner-v2"
BUILD_3 = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0/3"
AMI_3 = "ami-0a1b2c3d4e5f60718"


def success_event() -> dict[str, object]:
    event: dict[str, object] = sample("eventbridge-image-state-change-available.json")
    return event


# --- the seed spec ----------------------------------------------------------------------


def test_spec_initial_state_on_deploy(aws: Aws) -> None:
    answer = aws.deploy()
    assert answer.body["PhysicalResourceId"] == "amistate:linux-x64"
    item = aws.item()
    assert item is not None
    assert item["PK"] == {"S": "AMI#linux-x64"} and item["SK"] == {"S": "LATEST"}
    assert item["status"] == {"S": "building"}
    assert item["amiId"] == {"NULL": True}
    assert "updatedAt" in item and "buildId" in item


def test_spec_immediate_build_on_deploy(aws: Aws) -> None:
    answer = aws.deploy()
    # StartImagePipelineExecution was called once, and the answer did not wait for the build.
    ((pipeline, token),) = aws.images.started
    assert pipeline == PIPELINE and 1 <= len(token) <= 36
    build_arn = answer.body["Data"]["BuildArn"]
    assert build_arn == aws.images.tokens[token]
    assert build_arn.startswith(PIPELINE.replace("image-pipeline", "image") + "/")
    assert answer.body["Data"]["PresetName"] == "linux-x64"
    assert answer.body["Data"]["PipelineArn"] == PIPELINE
    item = aws.item()
    assert item is not None and item["status"] == {"S": "building"}


# --- Create -------------------------------------------------------------------------------


def test_create_with_start_build_false_starts_nothing(aws: Aws) -> None:
    answer = aws.deploy(start_build="false")
    assert aws.images.started == []
    assert answer.body["Data"]["BuildArn"] == ""


def test_create_retried_after_success_is_idempotent(aws: Aws) -> None:
    event = aws.resource_event("Create")
    first = aws.send(event)
    # The build finished meanwhile; then CloudFormation's request is delivered again.
    aws.images.add_image(BUILD_3, PIPELINE, {REGION: AMI_3})
    aws.invoke(success_event())
    event["ResponseURL"] = aws.responses.response_url()
    second = aws.send(event)
    assert second.body["Status"] == "SUCCESS"
    assert second.body["PhysicalResourceId"] == first.body["PhysicalResourceId"]
    assert second.body["Data"] == first.body["Data"]
    assert len(aws.images.started) == 1  # the same clientToken: no second build
    item = aws.item()
    assert item is not None  # the AMI state was not reset by the second Create
    assert (item["status"], item["amiId"]) == ({"S": "ready"}, {"S": AMI_3})


def test_create_of_an_existing_preset_keeps_its_state(aws: Aws) -> None:
    aws.deploy(start_build="false")
    aws.images.add_image(BUILD_3, PIPELINE, {REGION: AMI_3})
    aws.invoke(success_event())
    aws.deploy(start_build="false", request_id="another-stack-request")
    item = aws.item()
    assert item is not None and item["amiId"] == {"S": AMI_3}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"preset": "../../etc"}, "PresetName: invalid preset name '../../etc'"),
        ({"preset": "a#b"}, "PresetName: invalid preset name"),
        ({"pipeline": "arn:aws:s3:::bucket"}, "PipelineArn: 'arn:aws:s3:::bucket' is not"),
        ({"config": "[1, 2]"}, "Config: expected a JSON object, got list"),
        ({"config": "{'single': 'quotes'}"}, "Config: not valid JSON"),
        ({"start_build": "TRUE"}, 'StartBuild: expected "true" or "false", got "TRUE"'),
    ],
)
def test_invalid_properties_fail_before_any_write(
    aws: Aws, changes: dict[str, str], reason: str
) -> None:
    answer = aws.send(aws.resource_event("Create", **changes))  # type: ignore[arg-type]
    assert answer.body["Status"] == "FAILED"
    assert reason in answer.body["Reason"]
    assert answer.body["PhysicalResourceId"].startswith("amistate-failed:")
    assert aws.items() == []
    assert aws.images.started == []


def test_config_as_an_object_is_refused_naming_config(aws: Aws) -> None:
    event = aws.resource_event("Create")
    event["ResourceProperties"]["Config"] = {"timeout": "3600", "spot": "true"}
    answer = aws.send(event)
    assert answer.body["Status"] == "FAILED"
    assert (
        answer.body["Reason"]
        .split("] ", 1)[1]
        .startswith("Config: expected a JSON object in a string, got an object")
    )


# --- Update -------------------------------------------------------------------------------


def test_update_of_config_keeps_state_and_starts_no_build(aws: Aws) -> None:
    old = aws.resource_event("Create")["ResourceProperties"]
    aws.deploy()
    aws.images.add_image(BUILD_3, PIPELINE, {REGION: AMI_3})
    aws.invoke(success_event())
    item = aws.item()
    new_config = {**CONFIG, "timeout": 7200}
    answer = aws.send(aws.resource_event("Update", config=new_config, old=old))
    assert answer.body["Status"] == "SUCCESS"
    assert answer.body["PhysicalResourceId"] == "amistate:linux-x64"
    assert answer.body["Data"]["BuildArn"] == ""
    assert len(aws.images.started) == 1  # only the Create's
    after = aws.item()
    assert after is not None and item is not None
    for key in ("status", "amiId", "updatedAt", "buildId"):
        assert after[key] == item[key]
    assert json.loads(after["config"]["S"]) == new_config


def test_update_of_the_pipeline_moves_the_mapping_and_builds(
    aws: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="amistate")
    old = aws.resource_event("Create")["ResourceProperties"]
    aws.deploy(start_build="false")
    aws.images.pipelines.add(OTHER_PIPELINE)
    answer = aws.send(aws.resource_event("Update", pipeline=OTHER_PIPELINE, old=old))
    assert answer.body["Status"] == "SUCCESS"
    assert answer.body["PhysicalResourceId"] == "amistate:linux-x64"
    ((pipeline, _),) = aws.images.started
    assert pipeline == OTHER_PIPELINE
    assert answer.body["Data"]["BuildArn"] != ""
    # A build of the old pipeline is no longer this preset's.
    aws.images.add_image(BUILD_3, PIPELINE, {REGION: AMI_3})
    aws.invoke(success_event())
    assert aws.parameter() is None
    new_build = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-v2/1.0.0/1"
    aws.images.add_image(new_build, OTHER_PIPELINE, {REGION: AMI_3})
    event = success_event()
    event["resources"] = [new_build]
    aws.invoke(event)
    assert aws.parameter_json()["amiId"] == AMI_3


def test_update_with_a_new_preset_name_is_a_replacement(aws: Aws) -> None:
    old = aws.resource_event("Create")["ResourceProperties"]
    aws.deploy(start_build="false")
    answer = aws.send(aws.resource_event("Update", preset="linux-x64-v2", old=old))
    assert answer.body["Status"] == "SUCCESS"
    assert answer.body["PhysicalResourceId"] == "amistate:linux-x64-v2"
    new = aws.item("linux-x64-v2")
    assert new is not None and new["status"] == {"S": "building"}
    # CloudFormation then deletes the old resource, with its old properties.
    delete = aws.resource_event("Delete", physical_id="amistate:linux-x64")
    delete["ResourceProperties"] = old
    assert aws.send(delete).body["Status"] == "SUCCESS"
    aws.images.add_image(BUILD_3, PIPELINE, {REGION: AMI_3})
    aws.invoke(success_event())
    assert aws.parameter_json("linux-x64-v2")["amiId"] == AMI_3


def test_failed_update_keeps_the_physical_id(aws: Aws) -> None:
    old = aws.resource_event("Create")["ResourceProperties"]
    aws.deploy(start_build="false")
    answer = aws.send(aws.resource_event("Update", config="null", old=old))
    assert answer.body["Status"] == "FAILED"
    assert answer.body["PhysicalResourceId"] == "amistate:linux-x64"
    assert "Config" in answer.body["Reason"]


# --- Delete -------------------------------------------------------------------------------


def test_delete_of_nothing_succeeds(aws: Aws) -> None:
    answer = aws.send(aws.resource_event("Delete"))
    assert answer.body["Status"] == "SUCCESS"
    assert answer.body["PhysicalResourceId"] == "amistate:linux-x64"
    assert aws.items() == []


def test_delete_after_a_failed_create_succeeds(aws: Aws) -> None:
    failed = aws.send(aws.resource_event("Create", preset="bad/name"))
    assert failed.body["Status"] == "FAILED"
    delete = aws.resource_event(
        "Delete", preset="bad/name", physical_id=failed.body["PhysicalResourceId"]
    )
    answer = aws.send(delete)
    assert answer.body["Status"] == "SUCCESS"
    assert answer.body["PhysicalResourceId"] == failed.body["PhysicalResourceId"]


def test_delete_keeps_the_state_and_unmaps_the_pipeline(aws: Aws) -> None:
    aws.deploy(start_build="false")
    aws.images.add_image(BUILD_3, PIPELINE, {REGION: AMI_3})
    aws.invoke(success_event())
    item, parameter = aws.item(), aws.parameter()
    assert aws.send(aws.resource_event("Delete")).body["Status"] == "SUCCESS"
    assert item is not None
    # Nothing lost but the pipeline: the record without one is a deleted preset.
    assert aws.item() == {k: v for k, v in item.items() if k != "pipelineArn"}
    assert aws.parameter() == parameter
    pipeline_key = {"PK": {"S": f"PIPELINE#{PIPELINE}"}, "SK": {"S": "PRESET"}}
    assert "Item" not in aws.ddb.get_item(TableName=aws.table, Key=pipeline_key)
    # Deleting again (CloudFormation retries) is fine.
    assert aws.send(aws.resource_event("Delete")).body["Status"] == "SUCCESS"


# --- CDK Provider framework -----------------------------------------------------------------


def test_on_event_returns_the_provider_shape(aws: Aws) -> None:
    event = aws.resource_event("Create")
    del event["ResponseURL"]
    result = custom_resource.on_event(event, Context())
    assert result == {
        "PhysicalResourceId": "amistate:linux-x64",
        "Data": {
            "PresetName": "linux-x64",
            "PipelineArn": PIPELINE,
            "BuildArn": aws.images.tokens[aws.images.started[0][1]],
        },
    }
    assert aws.responses.all_received() == []  # the framework answers, not us
    item = aws.item()
    assert item is not None and item["status"] == {"S": "building"}
    delete = aws.resource_event("Delete")
    assert custom_resource.on_event(delete, Context())["PhysicalResourceId"] == (
        "amistate:linux-x64"
    )


def test_on_event_raises_on_invalid_properties(aws: Aws) -> None:
    with pytest.raises(ValueError, match="PresetName"):
        custom_resource.on_event(aws.resource_event("Create", preset=""), Context())
    assert aws.items() == []


def test_custom_resource_logs_never_hold_config_values(
    aws: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="amistate")
    old = aws.resource_event("Create")["ResourceProperties"]
    aws.deploy()
    aws.send(aws.resource_event("Update", config={**CONFIG, "timeout": 1}, old=old))
    aws.send(aws.resource_event("Delete"))
    assert "created" in caplog.text and "deleted" in caplog.text
    assert CONFIG["secretToken"] not in caplog.text
    assert "X-Amz-Signature" not in caplog.text
