"""The state Lambda, invoked as Lambda would, over the real env-based wiring.

DynamoDB and SSM are moto's server (``AWS_ENDPOINT_URL``), Image Builder a
local fake (``AWS_ENDPOINT_URL_IMAGEBUILDER``); presets are deployed through
the custom resource. Every seed-spec scenario the Lambda owns is a
``test_spec_*`` here; the rest is the issue's list of delivery cases.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from amistate.errors import ConfigurationError, MalformedEvent
from amistate.shims import lambda_handler
from amistate.testing import sqs_event, sqs_record
from tests.shims.conftest import CONFIG, PIPELINE, Aws
from tests.shims.fakes import ACCOUNT, REGION, Context, FlakyProxy, sample

BUILD_3 = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0/3"
BUILD_4 = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0/4"
AMI_3 = "ami-0a1b2c3d4e5f60718"
AMI_4 = "ami-0b2c3d4e5f6071829"
OLD_AMI = "ami-00000000000000001"
STARTED_3 = datetime(2024, 1, 18, 17, 21, 3, tzinfo=UTC)  # "Jan 18, 2024 5:21:03 PM"
STARTED_4 = datetime(2024, 1, 19, 3, 40, 0, tzinfo=UTC)  # "Jan 19, 2024 3:40:00 AM"


def available(build: str = BUILD_3, time: str = "2024-01-18T17:50:56Z") -> dict[str, Any]:
    event: dict[str, Any] = sample("eventbridge-image-state-change-available.json")
    event["resources"] = [build]
    event["time"] = time
    return event


def failed(build: str = BUILD_4, time: str = "2024-01-19T04:12:07Z") -> dict[str, Any]:
    event: dict[str, Any] = sample("eventbridge-image-state-change-failed.json")
    event["resources"] = [build]
    event["time"] = time
    return event


def building() -> dict[str, Any]:
    event: dict[str, Any] = sample("eventbridge-image-state-change-building.json")
    return event


def sqs(*bodies: tuple[str, Any], sent: int = 1705600257204) -> dict[str, Any]:
    """An SQS event of ``(messageId, body)`` records, enqueued at ``sent`` (epoch ms)."""
    return sqs_event(*(sqs_record(body, message_id=m, sent=sent) for m, body in bodies))


def decisions(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    lines = [r.getMessage() for r in caplog.records if r.name == "amistate"]
    return [json.loads(line) for line in lines]


@pytest.fixture
def world(aws: Aws, caplog: pytest.LogCaptureFixture) -> Aws:
    """One preset deployed (no build started), its builds known to Image Builder."""
    caplog.set_level(logging.INFO, logger="amistate")
    aws.deploy(start_build="false")
    # Started when their notifications say (the SNS sample's dateCreated for build 3).
    aws.images.add_image(
        BUILD_3,
        PIPELINE,
        {REGION: AMI_3, "eu-west-1": "ami-0f9e8d7c6b5a40312"},
        created=STARTED_3,
    )
    aws.images.add_image(BUILD_4, PIPELINE, {REGION: AMI_4}, status="FAILED", created=STARTED_4)
    caplog.clear()
    return aws


# --- the seed spec ----------------------------------------------------------------------


def test_spec_ami_state_record_structure(world: Aws) -> None:
    world.invoke(available())
    item = world.item()
    assert item is not None
    assert item["PK"] == {"S": "AMI#linux-x64"}
    assert item["SK"] == {"S": "LATEST"}
    assert item["amiId"] == {"S": AMI_3}
    assert item["status"] == {"S": "ready"}
    assert item["updatedAt"] == {"S": "2024-01-18T17:50:56Z"}
    assert item["buildId"] == {"S": BUILD_3}


def test_spec_successful_build_processing(world: Aws, caplog: pytest.LogCaptureFixture) -> None:
    assert world.invoke(available()) is None
    item = world.item()
    assert item is not None
    assert (item["status"], item["amiId"]) == ({"S": "ready"}, {"S": AMI_3})
    assert world.parameter_json()["amiId"] == AMI_3
    # The AMI ID came from GetImage (the EventBridge event has none).
    assert ("GetImage", BUILD_3) in world.images.calls
    (line,) = decisions(caplog)
    assert line["decision"] == "applied"
    assert (line["preset"], line["buildId"], line["amiId"]) == ("linux-x64", BUILD_3, AMI_3)
    assert line["status"] == "AVAILABLE" and line["parameterWritten"] is True
    assert line["awsCalls"] >= 3


def test_spec_failed_build_processing(world: Aws) -> None:
    world.invoke(available())
    before = world.parameter()
    world.invoke(failed())
    item = world.item()
    assert item is not None
    assert item["status"] == {"S": "failed"}
    assert item["buildId"] == {"S": BUILD_4}
    assert item["reason"] == {"S": "Component step 'InstallDocker' failed"}
    assert item["amiId"] == {"S": AMI_3}  # the last good AMI stays
    assert world.parameter() == before  # value and version unchanged


def test_spec_conditional_update_prevents_race_conditions(
    world: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    newer = available(BUILD_4, "2024-01-19T05:00:00Z")
    world.images.add_image(BUILD_4, PIPELINE, {REGION: AMI_4}, created=STARTED_4)
    build_2 = BUILD_3.replace("/1.0.0/3", "/1.0.0/2")
    world.images.add_image(build_2, PIPELINE, {}, status="FAILED", created=STARTED_3)
    world.invoke(newer)
    parameter = world.parameter()
    item = world.item()
    caplog.clear()
    # Older events arrive late: a success and a failure.
    world.invoke(available(BUILD_3, "2024-01-18T17:50:56Z"))
    world.invoke(failed(build_2, "2024-01-18T18:00:00Z"))
    assert [line["decision"] for line in decisions(caplog)] == ["stale", "stale"]
    # Nothing is written at all (the next reconcile run adds them to the history).
    assert world.item() == item
    assert item is not None and item["amiId"] == {"S": AMI_4}
    assert item["updatedAt"] == {"S": "2024-01-19T05:00:00Z"}
    assert world.parameter() == parameter


def test_spec_ssm_updated_with_new_ami(world: Aws) -> None:
    world.put_parameter({**CONFIG, "amiId": OLD_AMI})
    world.invoke(available())
    parameter = world.parameter()
    assert parameter is not None
    assert parameter["Name"] == "/spot-runner/configs/linux-x64"
    assert json.loads(parameter["Value"])["amiId"] == AMI_3


def test_spec_ssm_preserves_other_config_values(world: Aws) -> None:
    """The preset's Config keys hold their deployed values; every other key stays as it was."""
    existing = {
        **CONFIG,
        "maxRunners": 5,
        "ratio": 0.5,
        "enabled": False,
        "nested": {"a": [1, 2, {"b": None}]},
        "amiId": OLD_AMI,
    }
    world.put_parameter(existing)
    world.invoke(available())
    value = world.parameter_json()
    assert value == {**existing, "amiId": AMI_3}
    assert type(value["maxRunners"]) is int and value["enabled"] is False
    assert list(value) == list(existing)  # key order kept too


def test_spec_ssm_not_updated_on_failure(world: Aws) -> None:
    world.put_parameter({**CONFIG, "amiId": OLD_AMI})
    before = world.parameter()
    world.invoke(failed())
    assert world.parameter() == before
    item = world.item()
    assert item is not None and item["status"] == {"S": "failed"}


def test_spec_preset_config_accessible(world: Aws) -> None:
    assert world.parameter() is None
    world.invoke(available())
    parameter = world.parameter()
    assert parameter is not None and parameter["Type"] == "String"
    # Created from the Config stored at deploy, every JSON type intact, plus the AMI.
    assert json.loads(parameter["Value"]) == {**CONFIG, "amiId": AMI_3}


# --- delivery -----------------------------------------------------------------------------


def test_sns_path_is_verified_with_one_getimage(
    world: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    assert world.invoke(sample("sns-image-notification-available.json")) is None
    assert world.images.calls == [("GetImage", BUILD_3)]  # its claims, checked (issue 20)
    assert world.parameter_json()["amiId"] == AMI_3
    item = world.item()
    assert item is not None and item["updatedAt"] == {"S": "2024-01-18T17:50:57.204000Z"}
    (line,) = decisions(caplog)
    assert (line["decision"], line["source"], line["origin"]) == ("applied", "sns", "sns")


def test_sns_with_a_malformed_record_handles_the_rest_then_raises(world: Aws) -> None:
    event = sample("sns-image-notification-available.json")
    bad = copy.deepcopy(event["Records"][0])
    bad["Sns"]["Message"] = "{not json"
    event["Records"].insert(0, bad)
    with pytest.raises(MalformedEvent, match=r"Records\[0\]\.Sns\.Message"):
        world.invoke(event)
    assert world.parameter_json()["amiId"] == AMI_3  # the good record was handled


def test_sqs_partial_batch_failure(world: Aws, caplog: pytest.LogCaptureFixture) -> None:
    unknown = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-linux-x64/9.9.9/1"
    sns_envelope = sample("sns-image-notification-available.json")["Records"][0]["Sns"]
    event = sqs(
        ("m-ok", available()),
        ("m-malformed", {"detail-type": "EC2 Image Builder Image State Change"}),
        ("m-not-json", "<xml/>"),
        ("m-unknown-build", available(unknown, "2024-01-18T19:00:00Z")),
        ("m-sns", sns_envelope),
        ("m-ignored", building()),
    )
    answer = world.invoke(event)
    # A build Image Builder does not know is rejected, not retried (issue 20).
    assert answer == {
        "batchItemFailures": [
            {"itemIdentifier": "m-malformed"},
            {"itemIdentifier": "m-not-json"},
        ]
    }
    assert world.parameter_json()["amiId"] == AMI_3
    by_id = {line["messageId"]: line["decision"] for line in decisions(caplog)}
    assert by_id == {
        "m-ok": "applied",
        "m-malformed": "malformed",
        "m-not-json": "malformed",
        "m-unknown-build": "rejected",
        # The same build by another path: the same start, so the same key (issue 12).
        "m-sns": "duplicate",
        "m-ignored": "ignored",
    }


def test_sqs_all_good_returns_an_empty_failure_list(world: Aws) -> None:
    assert world.invoke(sqs(("a", available()), ("b", available()))) == {"batchItemFailures": []}


def test_non_terminal_status_makes_zero_aws_calls(
    world: Aws, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any AWS call would now fail: a dead endpoint for every service.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ENDPOINT_URL_IMAGEBUILDER", "http://127.0.0.1:9")
    from amistate_adapters import clients

    from amistate.shims import runtime

    runtime.reset()
    clients.clear()
    assert world.invoke(building()) is None
    (line,) = decisions(caplog)
    assert line["decision"] == "ignored" and line["awsCalls"] == 0
    assert "non-terminal status BUILDING" in line["note"]


def test_unmanaged_pipeline_is_ignored(world: Aws, caplog: pytest.LogCaptureFixture) -> None:
    other = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/someone-else/1.0.0/1"
    world.images.add_image(
        other,
        f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image-pipeline/someone-else",
        {REGION: AMI_4},
    )
    items = world.items()
    assert world.invoke(available(other)) is None
    assert world.items() == items
    assert world.parameter() is None
    (line,) = decisions(caplog)
    assert line["decision"] == "ignored" and "not mapped to a preset" in line["note"]


def test_event_of_another_account_is_ignored(world: Aws, caplog: pytest.LogCaptureFixture) -> None:
    foreign = "arn:aws:imagebuilder:us-west-2:444455556666:image/spot-runner-linux-x64/1.0.0/3"
    event = available(foreign)
    event["account"] = "444455556666"
    items = world.items()
    assert world.invoke(event) is None
    assert world.items() == items and world.images.calls == []
    (line,) = decisions(caplog)
    assert line["decision"] == "ignored" and line["awsCalls"] == 0
    assert "444455556666" in line["note"]


def test_duplicate_delivery_writes_nothing_new(
    world: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    world.invoke(available())
    item, parameter = world.item(), world.parameter()
    caplog.clear()
    world.invoke(available())
    assert world.item() == item
    assert world.parameter() == parameter  # same version: not rewritten
    (line,) = decisions(caplog)
    assert line["decision"] == "duplicate" and line["parameterWritten"] is False


def test_ssm_outage_then_redelivery_completes(
    world: Aws, ssm_proxy: FlakyProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    from amistate_adapters import clients

    from amistate.shims import runtime

    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", ssm_proxy.url)
    # One attempt per call, so the outage needs no backoff waits (botocore would retry 503s).
    monkeypatch.setattr(clients, "client_config", functools.partial(clients.client_config, 1))
    runtime.reset()
    clients.clear()
    ssm_proxy.down.set()
    with pytest.raises(ClientError):
        world.invoke(available())
    assert ssm_proxy.refused >= 1
    item = world.item()
    assert item is not None and item["status"] == {"S": "ready"}  # the state write happened
    assert world.parameter() is None  # the SSM write did not
    ssm_proxy.down.clear()
    assert world.invoke(available()) is None  # Lambda's retry, same process
    assert world.parameter_json() == {**CONFIG, "amiId": AMI_3}


def test_malformed_eventbridge_event_is_logged_then_raised(
    world: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    event = available()
    del event["detail"]["state"]
    with pytest.raises(MalformedEvent, match=r"\$\.detail\.state"):
        world.invoke(event)
    (line,) = decisions(caplog)
    assert line["decision"] == "malformed" and line["path"].startswith("$.detail.state")


def test_not_an_event_at_all_raises(world: Aws) -> None:
    with pytest.raises(MalformedEvent):
        world.invoke({"hello": "world"})
    with pytest.raises(MalformedEvent):
        world.invoke([1, 2])


def test_build_unknown_to_image_builder_is_rejected_not_retried(
    world: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    unknown = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-linux-x64/7.0.0/1"
    assert world.invoke(available(unknown)) is None  # a retry would meet the same answer
    (line,) = decisions(caplog)
    assert (line["decision"], line["buildId"]) == ("rejected", unknown)
    assert line["note"].startswith("arn: Image Builder has no such image")
    item = world.item()
    assert item is not None and item["status"] == {"S": "building"}
    assert world.parameter() is None


def test_missing_table_setting_fails_clearly(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMISTATE_TABLE")
    with pytest.raises(ConfigurationError, match="AMISTATE_TABLE is not set"):
        lambda_handler.handler(building(), Context())


def test_logs_never_hold_config_values(world: Aws, caplog: pytest.LogCaptureFixture) -> None:
    world.invoke(available())
    world.invoke(failed())
    world.invoke(sample("sns-image-notification-available.json"))
    assert decisions(caplog)
    assert CONFIG["secretToken"] not in caplog.text
    assert "c7g.large" not in caplog.text


# --- issue 12: order is a property of the build; only our AMIs ----------------------------


def image_message(
    build: str = BUILD_3, started: str = "Jan 18, 2024 5:21:03 PM", amis: Any = None
) -> dict[str, Any]:
    """Image Builder's notification (the Image object) as the SNS sample carries it."""
    envelope = sample("sns-image-notification-available.json")["Records"][0]["Sns"]
    image: dict[str, Any] = json.loads(envelope["Message"])
    image["arn"] = build
    image["dateCreated"] = started
    if amis is not None:
        image["outputResources"] = {"amis": amis}
    return image


def raw_sqs(message_id: str, image: dict[str, Any], sent: str) -> dict[str, Any]:
    """SNS raw message delivery into SQS: the body is the Image object, no envelope."""
    return sqs((message_id, image), sent=int(sent))


def test_redriven_raw_sqs_message_does_not_bring_an_old_build_back(
    world: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    """A DLQ redrive re-enqueues build 3's message after build 4 succeeded: a newer
    SentTimestamp, the same build, the same place (issue 12 point 4)."""
    world.images.add_image(BUILD_4, PIPELINE, {REGION: AMI_4}, created=STARTED_4)
    old = image_message(BUILD_3, "Jan 18, 2024 5:21:03 PM")
    new = image_message(
        BUILD_4,
        "Jan 19, 2024 3:40:00 AM",
        [{"region": REGION, "image": AMI_4, "accountId": ACCOUNT}],
    )
    assert world.invoke(raw_sqs("m-3", old, "1705600257204")) == {"batchItemFailures": []}
    assert world.invoke(raw_sqs("m-4", new, "1705638000000")) == {"batchItemFailures": []}
    assert world.parameter_json()["amiId"] == AMI_4
    item, parameter = world.item(), world.parameter()
    caplog.clear()
    # Redriven days later: SentTimestamp 2024-01-22, after both builds.
    assert world.invoke(raw_sqs("m-3-redriven", old, "1705945857204")) == {"batchItemFailures": []}
    assert world.invoke(raw_sqs("m-4-redriven", new, "1705945857999")) == {"batchItemFailures": []}
    assert world.item() == item
    assert world.parameter() == parameter  # still build 4's AMI, not rewritten
    assert [line["decision"] for line in decisions(caplog)] == ["stale", "duplicate"]


def test_raw_sqs_message_without_date_created_is_a_named_batch_failure(
    world: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    undated = image_message()
    del undated["dateCreated"]
    event = sqs(("m-undated", undated), ("m-building", building()))
    assert world.invoke(event) == {"batchItemFailures": [{"itemIdentifier": "m-undated"}]}
    by_id = {line["messageId"]: line for line in decisions(caplog)}
    assert by_id["m-undated"]["decision"] == "malformed"
    assert by_id["m-undated"]["path"] == "$.Records[0].body.dateCreated"
    assert by_id["m-building"]["decision"] == "ignored"
    assert world.parameter() is None


def test_another_accounts_ami_never_reaches_the_parameter(world: Aws) -> None:
    """A distribution to another account lists its AMI too; the last entry for the home
    region is the other account's (issue 12 point 3)."""
    amis = sample("getimage-response-multi-account.json")["image"]["outputResources"]["amis"]
    assert amis[-1]["region"] == REGION and amis[-1]["accountId"] != ACCOUNT
    copy = {amis[-1]["accountId"]: {REGION: amis[-1]["image"]}}  # Image Builder knows it too
    own = {REGION: AMI_3, "eu-west-1": "ami-0f9e8d7c6b5a40312"}
    world.images.add_image(BUILD_3, PIPELINE, own, created=STARTED_3, copies=copy)
    event = sample("sns-image-notification-available.json")
    event["Records"][0]["Sns"]["Message"] = json.dumps(image_message(amis=amis))
    assert world.invoke(event) is None
    assert world.parameter_json()["amiId"] == AMI_3
    item = world.item()
    assert item is not None and item["amiId"] == {"S": AMI_3}
    assert amis[-1]["image"] not in json.dumps(item)
