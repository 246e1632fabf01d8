"""An SQS record's body: an EventBridge event, an SNS envelope, or (raw message
delivery) the Image object itself.

Nothing of the delivery is read: not ``SentTimestamp``, not the receive count
or time. A DLQ redrive re-enqueues a message with a new ``SentTimestamp``; the
build it names must keep its place, so a raw Image object is ordered and timed
by its own ``dateCreated`` (and refused without one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from amistate.core.events import BuildEvent
from amistate.core.parsing.eventbridge import parse_eventbridge
from amistate.core.parsing.wire import json_text


def parse_sqs_body(record: Mapping[str, Any], path: str) -> BuildEvent:
    """An SQS record's body: an EventBridge event, an SNS envelope, or a raw Image object."""
    body = json_text(record.get("body"), f"{path}.body")
    where = f"{path}.body"
    if isinstance(body, dict) and "detail-type" in body:
        return parse_eventbridge(body, where)
    # Imported here: the EventBridge rule's path (the CDK example's) never needs it.
    from amistate.core.parsing.sns import parse_image_notification, parse_sns_envelope

    if isinstance(body, dict) and body.get("Type") == "Notification":
        return parse_sns_envelope(body, where)
    # Raw message delivery: the Image object itself, timed by its own dateCreated.
    return parse_image_notification(body, None, where)


def record_of_message(message: Mapping[str, Any], queue_arn: str = "") -> dict[str, Any]:
    """The record a Lambda SQS event source mapping makes of ``message`` as SQS's
    ``ReceiveMessage`` returns it (``aws sqs receive-message --attribute-names All``);
    what the message lacks stays empty, for the parser to name."""
    attributes = message.get("Attributes")
    parts = queue_arn.split(":")
    return {
        "messageId": message.get("MessageId"),
        "receiptHandle": message.get("ReceiptHandle", ""),
        "body": message.get("Body"),
        "attributes": dict(attributes) if isinstance(attributes, Mapping) else {},
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": parts[3] if len(parts) > 3 else "",
    }


__all__ = ["parse_sqs_body", "record_of_message"]
