"""The demo's world: its account, presets and day; its events come from the test kit's builders."""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from amistate.testing import events

REGION = "us-west-2"
OTHER_REGION = "eu-west-1"  # builds are distributed here too; the presets use us-west-2
ACCOUNT = "111122223333"
TABLE = "amistate-demo"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:amistate-state"
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/spot-runners/6a7e8feb"
DAY = "2024-06-03"

PRESETS: Mapping[str, Mapping[str, Any]] = {
    "linux-x64": {
        "instanceTypes": ["c7i.large", "m7i.large"],
        "timeout": 3600,
        "labels": ["self-hosted", "linux", "x64"],
        "spot": True,
    },
    "linux-arm64": {
        "instanceTypes": ["c7g.large"],
        "timeout": 3600,
        "labels": ["self-hosted", "linux", "arm64"],
        "spot": True,
    },
}
#: linux-arm64's parameter existed before amistate: an operator tuned maxRunners by hand.
HAND_MADE = {
    "instanceTypes": ["c7g.large"],
    "timeout": 3600,
    "labels": ["self-hosted", "linux", "arm64"],
    "spot": True,
    "maxRunners": 8,
    "amiId": "ami-0123456789abcdef0",
}


def pipeline(preset: str) -> str:
    return f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image-pipeline/spot-runner-{preset}"


def ami(build_arn: str, region: str = REGION) -> str:
    """A realistic, deterministic AMI ID per build and region."""
    return "ami-0" + hashlib.sha256(f"{build_arn}@{region}".encode()).hexdigest()[:16]


def at(clock: str) -> datetime:
    return datetime.fromisoformat(f"{DAY}T{clock}+00:00")


def day_clock(start: str = "05:00:00") -> Callable[[], datetime]:
    """The stand-in's clock: builds start a minute apart from ``start`` on the demo's day,
    before any of the day's events (the ordering uses when a build started)."""
    minutes = itertools.count()
    return lambda: at(start) + timedelta(minutes=next(minutes))


def eventbridge(build_arn: str, status: str, when: datetime, reason: str | None = None) -> Any:
    """The build's EventBridge event, as the kit builds it (:mod:`amistate.testing.events`)."""
    return events.eventbridge_event(build_arn, status, when, reason=reason)


def sns_envelope(image: Mapping[str, Any], when: datetime, message_id: str) -> dict[str, Any]:
    """Image Builder's notification in SNS's envelope, from the demo's topic."""
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:{events.TOPIC}"
    return events.sns_envelope(image, when, message_id=message_id, topic_arn=topic)


def sns(envelope: Mapping[str, Any]) -> Any:
    """The Lambda SNS event of one envelope."""
    return events.sns_event(envelope)


def sqs(envelope: Mapping[str, Any]) -> Any:
    """The Lambda SQS event of one envelope, received a second time (a redelivery)."""
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{events.QUEUE}"
    record = events.sqs_record(envelope, sent=1717400000000, receive_count=2, queue_arn=queue)
    return events.sqs_event(record)


def linux_x64_update(props: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """The custom resource's Update of linux-x64 from ``old`` to ``props`` (as
    CloudFormation sends it; the demo has no stack to answer)."""
    return {
        "RequestType": "Update",
        "ServiceToken": FUNCTION_ARN,
        "ResponseURL": "https://cloudformation-custom-resource-response.invalid/",
        "StackId": STACK_ID,
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": "PresetLinuxX64",
        "ResourceType": "Custom::AmistatePreset",
        "PhysicalResourceId": "amistate:linux-x64",
        "ResourceProperties": props,
        "OldResourceProperties": old,
    }
