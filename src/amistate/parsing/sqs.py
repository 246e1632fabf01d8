"""An SQS record's body: an EventBridge event, an SNS envelope, or (raw message
delivery) the Image object itself, timed by the SQS ``SentTimestamp``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from amistate.errors import MalformedEvent
from amistate.events import BuildEvent
from amistate.parsing.eventbridge import parse_eventbridge
from amistate.parsing.sns import parse_image_notification, parse_sns_envelope
from amistate.parsing.strict import json_text


def parse_sqs_body(record: Mapping[str, Any], path: str) -> BuildEvent:
    """An SQS record's body: an EventBridge event, an SNS envelope, or a raw Image object."""
    body = json_text(record.get("body"), f"{path}.body")
    where = f"{path}.body"
    if isinstance(body, dict) and "detail-type" in body:
        return parse_eventbridge(body, where)
    if isinstance(body, dict) and body.get("Type") == "Notification":
        return parse_sns_envelope(body, where)
    # Raw message delivery: the Image object itself, timed by SentTimestamp.
    attributes = record.get("attributes")
    sent = attributes.get("SentTimestamp") if isinstance(attributes, dict) else None
    where_sent = f"{path}.attributes.SentTimestamp"
    if not isinstance(sent, str) or not (sent.isascii() and sent.isdigit()) or len(sent) > 15:
        raise MalformedEvent(
            where_sent,
            "a raw Image Builder notification needs the SQS SentTimestamp (epoch milliseconds)",
        )
    try:
        time = datetime.fromtimestamp(int(sent) / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedEvent(where_sent, f"out of range: {sent!r}") from None
    return parse_image_notification(body, time, where)


__all__ = ["parse_sqs_body"]
