"""End to end, offline: the synthesized EventBridge rule -> SQS -> the state Lambda.

The rule's ``EventPattern`` comes from the CDK example's synthesis (not a copy),
is installed in moto's EventBridge (server mode) with an SQS target, and
real-shaped Image Builder events of every status are put on the bus. What
arrives in the queue is handed to ``amistate.shims.lambda_handler.handler``
as the SQS event Lambda would build. Only terminal events may arrive, and
DynamoDB and SSM must end in the state the spec requires.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from amistate.testing.events import received_sqs_event
from tests.cdk.synth import rule_event_pattern
from tests.servers import Endpoint, Table
from tests.shims.conftest import CONFIG, PIPELINE, Aws
from tests.shims.fakes import ACCOUNT, REGION

#: The state function's queue, as the event source mapping names it in each record.
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:amistate-state"

IMAGE = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0"
AMI_3 = "ami-0a1b2c3d4e5f60718"
AMI_6 = "ami-0f9e8d7c6b5a40312"
EVERY_STATUS = ["PENDING", "CREATING", "BUILDING", "TESTING", "DISTRIBUTING", "INTEGRATING"]


def _at(when: str) -> datetime:
    return datetime.fromisoformat(when)


def _entry(build: int, status: str, when: str, reason: str | None = None) -> dict[str, Any]:
    state: dict[str, str] = {"status": status}
    if reason:
        state["reason"] = reason
    return {
        "Source": "aws.imagebuilder",
        "DetailType": "EC2 Image Builder Image State Change",
        "Resources": [f"{IMAGE}/{build}"],
        "Time": datetime.fromisoformat(when).astimezone(UTC),
        "Detail": json.dumps({"previous-state": {"status": "TESTING"}, "state": state}),
    }


def _route_through_the_rule(
    endpoint: Endpoint, entries: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Put the entries on moto's default bus behind the synthesized rule; drain the queue."""
    events = endpoint.client("events")
    sqs = endpoint.client("sqs")
    queue_url = sqs.create_queue(QueueName="amistate-state")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(Name="amistate-image-state", EventPattern=json.dumps(rule_event_pattern()))
    events.put_targets(Rule="amistate-image-state", Targets=[{"Id": "state", "Arn": queue_arn}])
    for start in range(0, len(entries), 10):
        answer = events.put_events(Entries=entries[start : start + 10])
        assert answer["FailedEntryCount"] == 0, answer
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
    ).get("Messages", []):
        messages.extend(batch)
        for message in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return messages


def test_only_terminal_events_arrive_and_the_end_state_is_the_spec(
    aws: Aws, moto_table: Table
) -> None:
    aws.deploy(start_build="false")
    # Builds are ordered by their start (dateCreated): build 6 started first.
    add = aws.images.add_image
    add(f"{IMAGE}/3", PIPELINE, {REGION: AMI_3}, created=_at("2024-01-18T17:00:00+00:00"))
    add(f"{IMAGE}/4", PIPELINE, {}, "FAILED", _at("2024-01-19T03:30:00+00:00"))
    add(f"{IMAGE}/5", PIPELINE, {}, "CANCELLED", _at("2024-01-20T07:40:00+00:00"))
    add(f"{IMAGE}/6", PIPELINE, {REGION: AMI_6}, created=_at("2024-01-17T08:10:00+00:00"))
    entries = [_entry(3, s, "2024-01-18T17:00:00+00:00") for s in EVERY_STATUS]
    entries += [
        _entry(3, "AVAILABLE", "2024-01-18T17:50:56+00:00"),
        _entry(4, "FAILED", "2024-01-19T04:12:07+00:00", "Component step 'InstallDocker' failed"),
        _entry(6, "AVAILABLE", "2024-01-17T09:00:00+00:00"),  # an older success, late
        _entry(5, "CANCELLED", "2024-01-20T08:00:00+00:00"),
        _entry(3, "AVAILABLE", "2024-01-18T17:50:56+00:00"),  # a duplicate delivery
    ]

    messages = _route_through_the_rule(moto_table.endpoint, entries)

    arrived = [json.loads(m["Body"]) for m in messages]
    statuses = sorted(body["detail"]["state"]["status"] for body in arrived)
    assert statuses == ["AVAILABLE", "AVAILABLE", "AVAILABLE", "CANCELLED", "FAILED"]
    assert all(body["source"] == "aws.imagebuilder" for body in arrived)

    assert aws.invoke(received_sqs_event(messages, QUEUE_ARN)) == {"batchItemFailures": []}

    item = aws.item()
    assert item is not None
    # The newest event (build 5, cancelled) sets the status; the newest success the AMI.
    assert item["status"] == {"S": "failed"}
    assert item["reason"] == {"S": "cancelled"}
    assert item["buildId"] == {"S": f"{IMAGE}/5"}
    assert item["updatedAt"] == {"S": "2024-01-20T08:00:00Z"}
    assert item["amiId"] == {"S": AMI_3}
    parameter = aws.parameter_json()
    assert parameter == {**CONFIG, "amiId": AMI_3}
