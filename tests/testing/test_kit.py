"""The public test kit: its events are AWS's shapes, and it says what it needs."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

from amistate.core.events import BuildEvent
from amistate.core.parsing import parse_invocation
from amistate.testing import events
from tests.core.samples import sample

BUILD = "arn:aws:imagebuilder:us-west-2:111122223333:image/spot-runner-linux-x64/1.0.0/3"
PIPELINE = "arn:aws:imagebuilder:us-west-2:111122223333:image-pipeline/spot-runner-linux-x64"
AMI = "ami-0a1b2c3d4e5f60718"
WHEN = datetime(2024, 1, 18, 17, 50, 57, 204000, tzinfo=UTC)


def keys(value: Any) -> Any:
    """The shape of ``value``: its keys, nested (lists by their first item)."""
    if isinstance(value, dict):
        return {key: keys(item) for key, item in value.items()}
    if isinstance(value, list) and value:
        return [keys(value[0])]
    return type(value).__name__ if value is not None else None


def parsed(event: Any) -> list[BuildEvent]:
    """The build events the Lambda's parser reads in ``event`` (none malformed)."""
    results = [item.result for item in parse_invocation(event).items]
    assert all(isinstance(result, BuildEvent) for result in results), results
    return [result for result in results if isinstance(result, BuildEvent)]


def test_the_eventbridge_event_has_the_samples_shape_and_parses() -> None:
    built = events.eventbridge_event(BUILD, "AVAILABLE", WHEN)
    real = sample("eventbridge-image-state-change-available.json")
    assert keys(built) == keys(real)
    [event] = parsed(built)
    assert (event.build.arn, event.status, event.time) == (
        BUILD,
        "AVAILABLE",
        WHEN.replace(microsecond=0),
    )


def test_the_sns_event_has_the_samples_shape_and_carries_the_amis() -> None:
    image = events.image_notification(BUILD, PIPELINE, "AVAILABLE", {"us-west-2": AMI}, WHEN)
    built = events.sns_event(events.sns_envelope(image, WHEN))
    real = sample("sns-image-notification-available.json")
    assert keys(built) == keys(real)
    assert built["Records"][0]["Sns"]["TopicArn"] == real["Records"][0]["Sns"]["TopicArn"]
    [event] = parsed(built)
    assert event.amis is not None and event.amis.regional() == {"us-west-2": AMI}
    assert (event.time, event.created) == (WHEN, WHEN)


def test_sqs_records_carry_each_body_and_their_message_ids() -> None:
    image = events.image_notification(BUILD, PIPELINE, "AVAILABLE", {"us-west-2": AMI}, WHEN)
    bodies = [
        events.eventbridge_event(BUILD, "AVAILABLE", WHEN),
        events.sns_envelope(image, WHEN),
        image,
    ]
    built = events.sqs_event(
        *(events.sqs_record(body, message_id=f"m-{n}", sent=WHEN) for n, body in enumerate(bodies))
    )
    items = parse_invocation(built).items
    assert [item.message_id for item in items] == ["m-0", "m-1", "m-2"]
    assert [event.build.arn for event in parsed(built)] == [BUILD] * 3
    assert json.loads(built["Records"][1]["body"])["Type"] == "Notification"


def test_received_messages_become_the_records_an_event_source_mapping_builds() -> None:
    body = json.dumps(events.eventbridge_event(BUILD, "AVAILABLE", WHEN))
    message = {  # ReceiveMessage's shape (AttributeNames=["All"])
        "MessageId": "m-7",
        "ReceiptHandle": "AQEBm7",
        "MD5OfBody": "0" * 32,
        "Body": body,
        "Attributes": {"SentTimestamp": "1705600257204", "ApproximateReceiveCount": "1"},
    }
    queue = "arn:aws:sqs:eu-west-1:111122223333:amistate-state"
    built = events.received_sqs_event([message], queue)
    [record] = built["Records"]
    assert keys(record) == keys(events.sqs_record(body))
    assert (record["awsRegion"], record["eventSourceARN"], record["body"]) == (
        "eu-west-1",
        queue,
        body,
    )
    assert [item.message_id for item in parse_invocation(built).items] == ["m-7"]
    assert [event.build.arn for event in parsed(built)] == [BUILD]


def test_a_scheduled_event_names_its_rule_and_takes_region_and_account_from_it() -> None:
    rule = "arn:aws:events:eu-west-1:444455556666:rule/amistate-reconcile"
    built = events.scheduled_event(rule, WHEN)
    assert (built["detail-type"], built["source"], built["resources"]) == (
        "Scheduled Event",
        "aws.events",
        [rule],
    )
    assert (built["region"], built["account"], built["time"]) == (
        "eu-west-1",
        "444455556666",
        "2024-01-18T17:50:57Z",
    )


def test_without_moto_the_world_says_which_extra_to_install() -> None:
    script = (
        "import sys; sys.modules['moto'] = None\n"
        "import amistate.testing as kit\n"  # the kit itself imports without moto
        "try:\n"
        "    kit.local_world().__enter__()\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "install the 'test' extra (or 'demo')" in done.stdout
    assert "pip install -e '.[test]'" in done.stdout
