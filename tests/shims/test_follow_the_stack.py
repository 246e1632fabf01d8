"""Issue 12: what the runners read follows the stack, through the real entry points.

The custom resource (``custom_resource.handler`` answering a ResponseURL, and
``custom_resource.on_event`` for the CDK Provider) and the event Lambda
(``lambda_handler.handler``) run over the env-based wiring: DynamoDB and SSM
are moto's server, Image Builder the stand-in, whose builds start
(``new_build``, ``StartImagePipelineExecution``) and finish (``finish``, which
puts Image Builder's EventBridge event in its outbox) when a test says so.

One section per behaviour of the issue. Every test fails on the code before
the change (49dcf0f); each docstring says what that code did.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from amistate import read
from amistate.shims import custom_resource
from amistate.testing import sns_envelope, sns_event, sqs_event, sqs_record
from tests.servers import Table
from tests.shims.conftest import PIPELINE, Aws
from tests.shims.fakes import ACCOUNT, REGION, Context

EXTRA = "eu-west-1"
OTHER_ACCOUNT = "444455556666"
OTHER_PIPELINE = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image-pipeline/spot-runner-windows"
PRESET = "linux-x64"
SIBLING = "linux-x64-large"  # the same image, bigger instances
T0 = datetime(2024, 6, 3, 6, 0, tzinfo=UTC)

OLD_CONFIG: dict[str, Any] = {
    "instanceTypes": ["c7g.large", "c6g.large"],
    "timeout": 3600,
    "spot": True,
    "secret": "ghp-registration-token",
}
NEW_CONFIG: dict[str, Any] = {
    "instanceTypes": ["c7g.xlarge", "m7g.xlarge"],
    "timeout": 7200,
    "spot": True,
}
SIBLING_CONFIG: dict[str, Any] = {
    "instanceTypes": ["c7g.4xlarge"],
    "timeout": 10800,
    "spot": False,
    "labels": ["large"],
}
#: Written by hand by someone else; no Config ever had these keys.
BY_HAND: dict[str, Any] = {"maxRunners": 12, "scaleDownFactor": 0.5, "ephemeral": False}


def ami(n: int, region: str = REGION, account: str = ACCOUNT) -> str:
    """Build ``n``'s AMI in ``region`` of ``account`` (distinct for each triple)."""
    regions = {REGION: 1, EXTRA: 2}
    return f"ami-{n:06x}{regions[region]:02x}{int(account) % 4096:03x}000000"


def canonical(value: Any) -> str:
    """JSON with its types: ``12``, ``12.0`` and ``true`` all differ; key order does not."""
    return json.dumps(value, sort_keys=True)


def ssm_json(moto_table: Table, region: str, preset: str = PRESET) -> Any:
    """The parameter's JSON in ``region`` (None if missing), read with boto3."""
    ssm = moto_table.endpoint.client("ssm", region)
    try:
        found = ssm.get_parameter(Name=f"/spot-runner/configs/{preset}")
    except ssm.exceptions.ParameterNotFound:
        return None
    return json.loads(found["Parameter"]["Value"])


def put_ssm(moto_table: Table, region: str, value: dict[str, Any], preset: str = PRESET) -> None:
    moto_table.endpoint.client("ssm", region).put_parameter(
        Name=f"/spot-runner/configs/{preset}", Value=json.dumps(value), Overwrite=True
    )


def deliver(aws: Aws) -> int:
    """Hand every event Image Builder sent to the event Lambda, oldest first (EventBridge)."""
    events = aws.images.take_events()
    for event in events:
        assert aws.invoke(event) is None
    return len(events)


def create(aws: Aws, preset: str, config: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """CloudFormation's Create of ``preset`` through the raw handler; its event."""
    event = aws.resource_event("Create", preset=preset, config=config, **kwargs)
    event["LogicalResourceId"] = preset.title().replace("-", "")
    answer = aws.send(event)
    assert answer.body["Status"] == "SUCCESS", answer.body
    return event


def update(aws: Aws, previous: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's Update of ``previous``'s resource to ``config``; the answer's body."""
    preset = previous["ResourceProperties"]["PresetName"]
    event = aws.resource_event(
        "Update",
        preset=preset,
        pipeline=previous["ResourceProperties"]["PipelineArn"],
        config=config,
        old=previous["ResourceProperties"],
    )
    event["LogicalResourceId"] = previous["LogicalResourceId"]
    body: dict[str, Any] = aws.send(event).body
    assert body["Status"] == "SUCCESS", body
    return body


def mapping(aws: Aws, pipeline: str = PIPELINE) -> set[str]:
    """The presets the pipeline mapping item names (read with boto3)."""
    key = {"PK": {"S": f"PIPELINE#{pipeline}"}, "SK": {"S": "PRESET"}}
    item = aws.ddb.get_item(TableName=aws.table, Key=key, ConsistentRead=True).get("Item", {})
    return set(item.get("presets", {}).get("SS", []))


def record(aws: Aws, preset: str = PRESET) -> dict[str, Any]:
    """The state item's string attributes (``None`` for NULL), read with boto3."""
    item = aws.item(preset)
    assert item is not None, preset
    return {k: v.get("S") for k, v in item.items() if "S" in v or "NULL" in v}


def decisions(caplog: pytest.LogCaptureFixture) -> list[str]:
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "amistate"]
    return [line["decision"] for line in lines if "preset" in line and "source" in line]


# --- 1. A Config change reaches SSM -------------------------------------------------------


def test_an_update_pushes_the_config_to_every_regions_parameter_at_once(
    aws: Aws, moto_table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the Update stored the new Config in DynamoDB only. The parameter kept
    timeout 3600, the old instance types and ``secret`` (the next build merged only
    ``amiId`` into it), in every region, with no build, forever."""
    monkeypatch.setenv("AMISTATE_EXTRA_REGIONS", EXTRA)
    created = create(aws, PRESET, OLD_CONFIG)
    ((_, token),) = aws.images.started
    aws.images.finish(aws.images.tokens[token], "AVAILABLE", {REGION: ami(1), EXTRA: ami(1, EXTRA)})
    assert deliver(aws) == 1
    for region in (REGION, EXTRA):
        assert canonical(ssm_json(moto_table, region)) == canonical(
            {**OLD_CONFIG, "amiId": ami(1, region)}
        )
        put_ssm(moto_table, region, {**ssm_json(moto_table, region), **BY_HAND})
    # A second preset, on another pipeline, that has no AMI yet.
    windows = create(aws, "windows-x64", OLD_CONFIG, pipeline=OTHER_PIPELINE, start_build="false")
    calls = list(aws.images.calls)

    body = update(aws, created, NEW_CONFIG)
    update(aws, windows, NEW_CONFIG)

    assert body["Data"]["BuildArn"] == ""  # no build started, none needed
    assert len(aws.images.started) == 1 and aws.images.calls == calls
    for region in (REGION, EXTRA):
        value = ssm_json(moto_table, region)
        assert canonical(value) == canonical({**NEW_CONFIG, **BY_HAND, "amiId": ami(1, region)})
        assert "secret" not in value
        assert ssm_json(moto_table, region, "windows-x64") is None
    item = record(aws)
    assert (item["status"], item["amiId"]) == ("ready", ami(1))
    assert json.loads(item["config"]) == NEW_CONFIG
    stored = aws.item()
    assert stored is not None and stored["retiredKeys"] == {"L": [{"S": "secret"}]}


def test_a_missed_push_heals_at_the_next_event(aws: Aws, moto_table: Table) -> None:
    """Before: a build merged ``amiId`` into whatever the parameter held, so the old
    value (old instance types, timeout 3600, ``secret``) stayed, with the new AMI."""
    created = create(aws, PRESET, OLD_CONFIG, start_build="false")
    first = aws.images.new_build(PIPELINE, T0)
    aws.images.finish(first, "AVAILABLE", {REGION: ami(1)}, finished=T0 + timedelta(minutes=40))
    deliver(aws)
    update(aws, created, NEW_CONFIG)
    # The push was lost (or undone): SSM holds the old Config, plus keys of others.
    stale = {**OLD_CONFIG, **BY_HAND, "amiId": ami(1)}
    put_ssm(moto_table, REGION, stale)

    second = aws.images.new_build(PIPELINE, T0 + timedelta(days=1))
    aws.images.finish(
        second, "AVAILABLE", {REGION: ami(2)}, finished=T0 + timedelta(days=1, hours=1)
    )
    deliver(aws)
    healed = {**NEW_CONFIG, **BY_HAND, "amiId": ami(2)}
    assert canonical(ssm_json(moto_table, REGION)) == canonical(healed)

    # Even a redelivery (a duplicate: no state change) heals it again.
    put_ssm(moto_table, REGION, {**stale, "amiId": ami(2)})
    aws.images.finish(
        second, "AVAILABLE", {REGION: ami(2)}, finished=T0 + timedelta(days=1, hours=1)
    )
    deliver(aws)
    assert canonical(ssm_json(moto_table, REGION)) == canonical(healed)


# --- 2. One pipeline, several presets -----------------------------------------------------


def test_two_presets_on_one_pipeline_both_follow_it(
    aws: Aws, moto_table: Table, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: the second Create overwrote ``PIPELINE#<arn>`` with itself (both answered
    SUCCESS); the build's event updated only the second preset, and the first stayed
    ``building`` with no parameter."""
    caplog.set_level(logging.INFO, logger="amistate")
    create(aws, PRESET, OLD_CONFIG)
    provider_event = aws.resource_event("Create", preset=SIBLING, config=SIBLING_CONFIG)
    del provider_event["ResponseURL"]
    provider_event["LogicalResourceId"] = "LargePreset"
    answer = custom_resource.on_event(provider_event, Context(function_name="amistate-preset"))
    assert answer["PhysicalResourceId"] == f"amistate:{SIBLING}"
    assert mapping(aws) == {PRESET, SIBLING}
    assert len(aws.images.started) == 2  # one build each: StartBuild applies to both

    build = aws.images.tokens[aws.images.started[0][1]]
    aws.images.finish(build, "AVAILABLE", {REGION: ami(1)})
    caplog.clear()
    deliver(aws)

    assert decisions(caplog) == ["applied", "applied"]
    for preset, config in ((PRESET, OLD_CONFIG), (SIBLING, SIBLING_CONFIG)):
        item = record(aws, preset)
        assert (item["status"], item["amiId"], item["buildId"]) == ("ready", ami(1), build)
        expected = {**config, "amiId": ami(1)}
        assert canonical(ssm_json(moto_table, REGION, preset)) == canonical(expected)


def test_a_preset_joining_a_pipeline_starts_from_its_good_ami(aws: Aws, moto_table: Table) -> None:
    """Before: the new preset started ``building`` with ``amiId`` null and no parameter,
    until the pipeline's next build (a week away on a weekly schedule); and it took the
    pipeline from the first preset."""
    create(aws, PRESET, OLD_CONFIG, start_build="false")
    good = aws.images.new_build(PIPELINE, T0)
    aws.images.finish(good, "AVAILABLE", {REGION: ami(1)}, finished=T0 + timedelta(minutes=40))
    bad = aws.images.new_build(PIPELINE, T0 + timedelta(hours=2))
    aws.images.finish(bad, "FAILED", reason="test failed", finished=T0 + timedelta(hours=3))
    deliver(aws)
    assert record(aws)["status"] == "failed"

    create(aws, SIBLING, SIBLING_CONFIG)  # StartBuild still applies

    assert len(aws.images.started) == 1
    item = record(aws, SIBLING)
    assert (item["status"], item["amiId"], item["buildId"]) == ("ready", ami(1), good)
    assert item["amiBuildId"] == good
    expected = {**SIBLING_CONFIG, "amiId": ami(1)}
    assert canonical(ssm_json(moto_table, REGION, SIBLING)) == canonical(expected)
    assert mapping(aws) == {PRESET, SIBLING}


def test_deleting_one_preset_leaves_the_other_following_the_pipeline(
    aws: Aws, moto_table: Table
) -> None:
    """Before: the mapping named only the preset created last; deleting it removed the
    mapping, and no later build reached the other preset."""
    create(aws, PRESET, OLD_CONFIG, start_build="false")
    create(aws, SIBLING, SIBLING_CONFIG, start_build="false")
    first = aws.images.new_build(PIPELINE, T0)
    aws.images.finish(first, "AVAILABLE", {REGION: ami(1)}, finished=T0 + timedelta(minutes=40))
    deliver(aws)

    delete = aws.resource_event("Delete", preset=SIBLING, config=SIBLING_CONFIG)
    assert aws.send(delete).body["Status"] == "SUCCESS"
    assert mapping(aws) == {PRESET}

    second = aws.images.new_build(PIPELINE, T0 + timedelta(days=1))
    aws.images.finish(
        second, "AVAILABLE", {REGION: ami(2)}, finished=T0 + timedelta(days=1, hours=1)
    )
    deliver(aws)
    assert (record(aws)["amiId"], ssm_json(moto_table, REGION)["amiId"]) == (ami(2), ami(2))
    # The deleted preset keeps its record and parameter, and follows no more.
    assert record(aws, SIBLING)["amiId"] == ami(1)
    assert ssm_json(moto_table, REGION, SIBLING)["amiId"] == ami(1)


# --- 3. Only our account's AMIs -----------------------------------------------------------


def notification(image: dict[str, Any], via: str, sent: int = 1717398000000) -> dict[str, Any]:
    """Image Builder's notification of ``image`` as the Lambda receives it ``via`` a path."""
    envelope = sns_envelope(image, "2024-01-18T17:50:57.204Z")
    if via == "sns":
        return sns_event(envelope)
    body = image if via == "sqs-raw" else envelope
    return sqs_event(sqs_record(body, message_id=f"m-{via}", sent=sent))


@pytest.mark.parametrize("theirs_first", [False, True], ids=["theirs-last", "theirs-first"])
@pytest.mark.parametrize("via", ["eventbridge", "sns", "sqs-envelope", "sqs-raw"])
def test_another_accounts_copy_of_the_ami_never_becomes_ours(
    aws: Aws, moto_table: Table, via: str, theirs_first: bool
) -> None:
    """Before: every path built ``{region: ami}`` from ``outputResources.amis[]`` and
    dropped ``accountId``, so the last home-region entry won whoever owned it: SSM named
    the copy in account 444455556666, which this account cannot launch. (Listed first,
    the copy must lose too: the account decides, not the position.)"""
    create(aws, PRESET, OLD_CONFIG, start_build="false")
    build = aws.images.new_build(PIPELINE, T0)
    theirs = ami(1, REGION, OTHER_ACCOUNT)
    image = aws.images.finish(
        build,
        "AVAILABLE",
        {REGION: ami(1)},
        copies={OTHER_ACCOUNT: {REGION: theirs}},
        deliver=via == "eventbridge",
    )
    listed = [(REGION, ami(1), ACCOUNT), (REGION, theirs, OTHER_ACCOUNT)]
    if theirs_first:
        listed.reverse()
        image["outputResources"]["amis"].reverse()
        with aws.images.lock:  # what GetImage serves
            aws.images.images[build]["outputResources"]["amis"].reverse()
    # What GetImage answers: every AMI with its accountId.
    imagebuilder = boto3.session.Session().client(
        "imagebuilder",
        region_name=REGION,
        endpoint_url=aws.images.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    amis = imagebuilder.get_image(imageBuildVersionArn=build)["image"]["outputResources"]["amis"]
    assert [(a["region"], a["image"], a.get("accountId")) for a in amis] == listed

    if via == "eventbridge":
        assert deliver(aws) == 1
    else:
        answer = aws.invoke(notification(image, via))
        assert answer in (None, {"batchItemFailures": []})

    assert ssm_json(moto_table, REGION)["amiId"] == ami(1)
    item = aws.item()
    assert item is not None and item["amiId"] == {"S": ami(1)}
    assert theirs not in json.dumps(item)


# --- 4. Order is a property of the build, never of the delivery -----------------------------


def raw_sqs(message_id: str, image: dict[str, Any], sent: datetime) -> dict[str, Any]:
    """SNS raw message delivery into SQS, enqueued at ``sent``."""
    return sqs_event(sqs_record(image, message_id=message_id, sent=sent))


def test_a_redriven_raw_sqs_message_does_not_bring_an_old_build_back(
    aws: Aws, moto_table: Table, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: a raw SQS message was timed by its ``SentTimestamp``; a DLQ redrive gave
    build 1's message a new one, so build 1 became the newest and its AMI went live
    again over build 2's."""
    caplog.set_level(logging.INFO, logger="amistate")
    create(aws, PRESET, OLD_CONFIG, start_build="false")
    first = aws.images.new_build(PIPELINE, T0)
    one = aws.images.finish(first, "AVAILABLE", {REGION: ami(1)}, deliver=False)
    second = aws.images.new_build(PIPELINE, T0 + timedelta(days=1))
    two = aws.images.finish(second, "AVAILABLE", {REGION: ami(2)}, deliver=False)
    ok: dict[str, list[Any]] = {"batchItemFailures": []}
    assert aws.invoke(raw_sqs("m-1", one, T0 + timedelta(hours=1))) == ok
    assert aws.invoke(raw_sqs("m-2", two, T0 + timedelta(days=1, hours=1))) == ok
    item, parameter = aws.item(), aws.parameter()
    assert ssm_json(moto_table, REGION)["amiId"] == ami(2)
    caplog.clear()

    # build 1's message failed once, sat in the DLQ, and is redriven three days later.
    assert aws.invoke(raw_sqs("m-1-redriven", one, T0 + timedelta(days=4))) == ok

    assert decisions(caplog) == ["stale"]
    assert aws.item() == item
    assert aws.parameter() == parameter  # build 2's AMI, not even rewritten
    assert record(aws)["buildId"] == second


@pytest.mark.parametrize("build_1_last", [True, False], ids=["build-1-last", "build-1-first"])
def test_of_two_overlapping_builds_the_one_started_later_wins(
    aws: Aws, moto_table: Table, build_1_last: bool
) -> None:
    """Build 2 starts while build 1 is still running and finishes first. Before: builds
    were ordered by their event's time (when they finished), so build 1, the older
    image, won in both delivery orders."""
    create(aws, PRESET, OLD_CONFIG, start_build="false")
    first = aws.images.new_build(PIPELINE, T0)
    second = aws.images.new_build(PIPELINE, T0 + timedelta(minutes=30))
    aws.images.finish(second, "AVAILABLE", {REGION: ami(2)}, finished=T0 + timedelta(minutes=70))
    aws.images.finish(first, "AVAILABLE", {REGION: ami(1)}, finished=T0 + timedelta(minutes=100))
    events = aws.images.take_events()  # build 2's, then build 1's
    for event in events if build_1_last else reversed(events):
        assert aws.invoke(event) is None

    item = record(aws)
    assert (item["status"], item["buildId"], item["amiId"]) == ("ready", second, ami(2))
    assert ssm_json(moto_table, REGION)["amiId"] == ami(2)


# --- 5. The record names its AMI's build ----------------------------------------------------


def test_after_a_failed_build_the_record_names_the_build_of_its_ami(
    aws: Aws, moto_table: Table
) -> None:
    """Before: the record said ``status=failed, buildId=<build 2>, amiId=<build 1's AMI>``
    and nothing named build 1, so build 2's row showed build 1's AMI."""
    create(aws, PRESET, OLD_CONFIG, start_build="false")
    first = aws.images.new_build(PIPELINE, T0)
    aws.images.finish(first, "AVAILABLE", {REGION: ami(1)}, finished=T0 + timedelta(minutes=40))
    second = aws.images.new_build(PIPELINE, T0 + timedelta(days=1))
    aws.images.finish(
        second, "FAILED", reason="TestFailure", finished=T0 + timedelta(days=1, minutes=25)
    )
    deliver(aws)

    item = record(aws)
    assert item["PK"] == f"AMI#{PRESET}" and item["SK"] == "LATEST"
    assert (item["status"], item["buildId"]) == ("failed", second)
    assert item["updatedAt"] == "2024-06-04T06:25:00Z"  # build 2's event
    assert (item["amiId"], item["amiBuildId"]) == (ami(1), first)
    assert item["amiUpdatedAt"] == "2024-06-03T06:40:00Z"  # build 1's event
    assert ssm_json(moto_table, REGION)["amiId"] == ami(1)
    # What a runner launcher reads: the AMI, whatever the newest build's status.
    read.reset()
    try:
        state = read.latest(PRESET)
        assert (state.status, state.ami_id, state.ami_build_id) == ("failed", ami(1), first)
        assert read.preset_config(PRESET)["amiId"] == ami(1)
    finally:
        read.reset()
