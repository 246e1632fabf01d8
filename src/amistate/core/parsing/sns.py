"""Image Builder's SNS notification: the whole Image object, in an SNS envelope or raw.

AMIs come in ``outputResources.amis`` (every account's, by place:
:func:`~amistate.core.amis.amis_of`) and the pipeline in
``sourcePipelineArn``, so the service needs no ``GetImage``. ``dateCreated``
(when the build started) is required: it is what orders builds, on every path.
The envelope's ``Timestamp`` is only the event's displayed time.
"""

from __future__ import annotations

import re
from datetime import datetime

from attrs import field, frozen

from amistate.core.amis import amis_of
from amistate.core.arns import BuildArn
from amistate.core.events import BuildEvent
from amistate.core.names import REGION_NAME
from amistate.core.parsing.strict import (
    State,
    json_text,
    matches,
    parse_date_created,
    pipeline,
    reason,
    structure,
)
from amistate.errors import MalformedEvent

_AMI_ID = re.compile(r"ami-[0-9a-f]{8,17}")
_ACCOUNT_ID = re.compile(r"[0-9]{12}")

#: Why a notification without ``dateCreated`` is refused (enveloped, then raw delivery).
MISSING_DATE_CREATED = (
    "required field missing: Image Builder's notification carries dateCreated (when the build "
    "started), which orders builds; the SNS Timestamp is a delivery time and never does"
)
MISSING_DATE_CREATED_RAW = (
    "required field missing: a raw SQS message (SNS raw message delivery) must carry Image "
    "Builder's dateCreated (when the build started), which orders builds; the SQS "
    "SentTimestamp is a delivery time and never does. Deliver Image Builder's notification "
    "unchanged (it carries dateCreated); enabling the SNS envelope does not replace it"
)


def _account(_: object, __: object, value: str | None) -> None:
    if value is not None and not _ACCOUNT_ID.fullmatch(value):
        raise ValueError(f"not a valid account ID: {value[:80]!r}")


@frozen
class _Ami:
    region: str = field(validator=matches(REGION_NAME, "region"))
    image: str = field(validator=matches(_AMI_ID, "AMI ID"))
    accountId: str | None = field(default=None, validator=_account)


@frozen
class _OutputResources:
    amis: list[_Ami] = field(factory=list)


@frozen
class _ImageNotification:
    arn: BuildArn
    state: State
    dateCreated: str | None = None
    sourcePipelineArn: str | None = field(default=None, validator=pipeline)
    outputResources: _OutputResources = field(factory=_OutputResources)


@frozen
class _SnsEnvelope:
    Message: str
    Timestamp: datetime


def _created(text: str | None, path: str, raw: bool) -> datetime:
    if text is None:
        raise MalformedEvent(path, MISSING_DATE_CREATED_RAW if raw else MISSING_DATE_CREATED)
    try:
        return parse_date_created(text)
    except ValueError as exc:
        raise MalformedEvent(path, str(exc)) from None


def parse_image_notification(image: object, time: datetime | None, path: str = "$") -> BuildEvent:
    """Image Builder's notification (the Image object).

    ``time`` is its SNS envelope's ``Timestamp``; ``None`` for raw message
    delivery (no envelope), where the event's time is the message's own
    ``dateCreated`` (the Image object has no later time; the SQS
    ``SentTimestamp`` is a delivery time and is never used).
    """
    wire = structure(image, _ImageNotification, path)
    created = _created(wire.dateCreated, f"{path}.dateCreated", raw=time is None)
    entries = (
        {"region": a.region, "image": a.image, "accountId": a.accountId}
        for a in wire.outputResources.amis
    )
    return BuildEvent(
        build=wire.arn,
        status=wire.state.status,
        time=created if time is None else time,
        reason=reason(wire.state.reason),
        amis=amis_of(entries, wire.arn.account),
        pipeline_arn=wire.sourcePipelineArn,
        origin="sns",
        created=created,
    )


def parse_sns_envelope(envelope: object, path: str) -> BuildEvent:
    """An SNS envelope whose ``Message`` is an Image Builder notification."""
    wire = structure(envelope, _SnsEnvelope, path)
    return parse_image_notification(
        json_text(wire.Message, f"{path}.Message"), wire.Timestamp, f"{path}.Message"
    )


__all__ = [
    "MISSING_DATE_CREATED",
    "MISSING_DATE_CREATED_RAW",
    "parse_image_notification",
    "parse_sns_envelope",
]
