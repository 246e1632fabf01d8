"""What Image Builder's news looks like when it reaches a Lambda, in the shapes AWS sends.

* :func:`eventbridge_event`: the EventBridge "EC2 Image Builder Image State Change"
  event (the build ARN in ``resources``, only the status in ``detail``: no AMI);
* :func:`image_notification`: Image Builder's SNS notification body, the Image object
  (AMIs per region in ``outputResources.amis[]``, each with its ``accountId``);
* :func:`sns_envelope` and :func:`sns_event`: that body in SNS's envelope, and the
  Lambda SNS event of one or more envelopes;
* :func:`sqs_record` and :func:`sqs_event`: any of those as an SQS message body, and
  the Lambda SQS event of one or more records; :func:`received_sqs_event`: the Lambda
  SQS event of messages a real queue returned;
* :func:`scheduled_event`: EventBridge's "Scheduled Event" (what starts a reconcile run).

Region and account come from the ARNs. No AWS SDK (the standard library and
amistate's pure core); ``tests/samples`` holds the real events these follow.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from amistate.core.parsing.sqs import record_of_message

DETAIL_TYPE = "EC2 Image Builder Image State Change"
SOURCE = "aws.imagebuilder"
#: The notifications topic's name in :func:`sns_envelope`'s default ARN.
TOPIC = "imagebuilder-notifications"
#: The queue's name in :func:`sqs_record`'s default ARN.
QUEUE = "amistate-events"


def _where(arn: str) -> tuple[str, str]:
    """(region, account) of an ARN."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        raise ValueError(f"not an ARN: {arn!r}")
    return parts[3], parts[4]


def _text(when: datetime | str, millis: bool) -> str:
    if isinstance(when, str):
        return when
    utc = when.astimezone(UTC)
    if not millis:
        return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def eventbridge_event(
    build_arn: str,
    status: str,
    when: datetime | str,
    *,
    reason: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """The EventBridge event of build ``build_arn`` reaching ``status`` at ``when``."""
    region, account = _where(build_arn)
    state: dict[str, str] = {"status": status}
    if reason is not None:
        state["reason"] = reason
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": account,
        "time": _text(when, millis=False),
        "region": region,
        "resources": [build_arn],
        "detail": {"previous-state": {"status": "TESTING"}, "state": state},
    }


def image_notification(
    build_arn: str,
    pipeline_arn: str,
    status: str,
    amis: Mapping[str, str],
    created: datetime | str,
) -> dict[str, Any]:
    """Image Builder's Image object (GetImage's ``image``, the SNS notification's body):
    build ``build_arn`` of ``pipeline_arn``, started at ``created``, with ``amis``
    (region -> AMI) in the build's own account."""
    _, _, rest = build_arn.partition(":image/")
    name, version, build = rest.split("/")
    _, account = _where(build_arn)
    return {
        "arn": build_arn,
        "type": "AMI",
        "name": name,
        "version": f"{version}/{build}",
        "platform": "Linux",
        "state": {"status": status},
        "dateCreated": _text(created, millis=True),
        "sourcePipelineName": pipeline_arn.rpartition("/")[2],
        "sourcePipelineArn": pipeline_arn,
        "buildType": "SCHEDULED",
        "outputResources": {
            "amis": [
                {
                    "region": region,
                    "image": ami,
                    "name": f"{name} {version}/{build}",
                    "accountId": account,
                    "state": {"status": "AVAILABLE"},
                }
                for region, ami in amis.items()
            ]
        },
    }


def sns_envelope(
    message: Mapping[str, Any] | str,
    when: datetime | str,
    *,
    message_id: str | None = None,
    topic_arn: str | None = None,
) -> dict[str, Any]:
    """SNS's envelope (a record's ``Sns``) of ``message``, published at ``when``.
    The default topic is in the region and account of the message's ``arn``."""
    if topic_arn is None:
        arn = message.get("arn", "") if isinstance(message, Mapping) else ""
        region, account = _where(str(arn)) if arn else ("us-west-2", "111122223333")
        topic_arn = f"arn:aws:sns:{region}:{account}:{TOPIC}"
    return {
        "Type": "Notification",
        "MessageId": message_id or str(uuid.uuid4()),
        "TopicArn": topic_arn,
        "Subject": None,
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": _text(when, millis=True),
        "MessageAttributes": {},
    }


def sns_event(*envelopes: Mapping[str, Any]) -> dict[str, Any]:
    """The Lambda SNS event delivering ``envelopes``, one record each."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{envelope['TopicArn']}:{uuid.uuid4()}",
                "Sns": dict(envelope),
            }
            for envelope in envelopes
        ]
    }


def sqs_record(
    body: Mapping[str, Any] | str,
    *,
    message_id: str | None = None,
    sent: datetime | int | None = None,
    receive_count: int = 1,
    queue_arn: str = f"arn:aws:sqs:us-west-2:111122223333:{QUEUE}",
) -> dict[str, Any]:
    """One SQS record of a Lambda SQS event; ``body`` (an EventBridge event, an SNS
    envelope, or a raw notification) is JSON-encoded unless it is text already.
    ``sent`` (a time, or epoch milliseconds) is the ``SentTimestamp``."""
    if sent is None:
        sent = datetime.now(UTC)
    sent_ms = sent if isinstance(sent, int) else int(sent.timestamp() * 1000)
    name = message_id or str(uuid.uuid4())
    return {
        "messageId": name,
        "receiptHandle": f"AQEB{name}",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": str(sent_ms),
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


def sqs_event(*records: Mapping[str, Any]) -> dict[str, Any]:
    """The Lambda SQS event delivering ``records`` (see :func:`sqs_record`)."""
    return {"Records": [dict(record) for record in records]}


def received_sqs_event(messages: Sequence[Mapping[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The Lambda SQS event an event source mapping builds from ``messages`` as SQS's
    ``ReceiveMessage`` returned them (with ``AttributeNames=["All"]``)."""
    return {"Records": [record_of_message(message, queue_arn) for message in messages]}


def scheduled_event(rule_arn: str, when: datetime | str) -> dict[str, Any]:
    """EventBridge's "Scheduled Event" of the rule ``rule_arn`` (the reconcile Lambda's)."""
    region, account = _where(rule_arn)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": _text(when, millis=False),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


__all__ = [
    "DETAIL_TYPE",
    "SOURCE",
    "eventbridge_event",
    "image_notification",
    "received_sqs_event",
    "scheduled_event",
    "sns_envelope",
    "sns_event",
    "sqs_event",
    "sqs_record",
]
