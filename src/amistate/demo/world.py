"""The demo's world: its account, presets and day, and events in the shapes AWS delivers them."""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from amistate.core.parsing import DETAIL_TYPE, EVENT_SOURCE

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
    state: dict[str, str] = {"status": status}
    if reason:
        state["reason"] = reason
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": EVENT_SOURCE,
        "account": ACCOUNT,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [build_arn],
        "detail": {"previous-state": {"status": "TESTING"}, "state": state},
    }


def sns_envelope(image: Mapping[str, Any], when: datetime, message_id: str) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:imagebuilder-notifications",
        "Subject": None,
        "Message": json.dumps(image),
        "Timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "MessageAttributes": {},
    }


def sns(envelope: Mapping[str, Any]) -> Any:
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{envelope['TopicArn']}:{uuid.uuid4()}",
                "Sns": dict(envelope),
            }
        ]
    }


def sqs(envelope: Mapping[str, Any]) -> Any:
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "AQEB" + uuid.uuid4().hex,
                "body": json.dumps(envelope),
                "attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1717400000000"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:amistate-events",
                "awsRegion": REGION,
            }
        ]
    }
