"""Image Builder's SNS notification: the whole Image object, timed by its SNS envelope.

AMIs come in ``outputResources.amis`` and the pipeline in ``sourcePipelineArn``,
so the service needs no ``GetImage``.
"""

from __future__ import annotations

import re
from datetime import datetime

from attrs import field, frozen

from amistate.arns import BuildArn
from amistate.events import BuildEvent, RegionalAmi
from amistate.names import REGION_NAME
from amistate.parsing.strict import State, json_text, matches, pipeline, reason, structure

_AMI_ID = re.compile(r"ami-[0-9a-f]{8,17}")


@frozen
class _Ami:
    region: str = field(validator=matches(REGION_NAME, "region"))
    image: str = field(validator=matches(_AMI_ID, "AMI ID"))


@frozen
class _OutputResources:
    amis: list[_Ami] = field(factory=list)


@frozen
class _ImageNotification:
    arn: BuildArn
    state: State
    sourcePipelineArn: str | None = field(default=None, validator=pipeline)
    outputResources: _OutputResources = field(factory=_OutputResources)


@frozen
class _SnsEnvelope:
    Message: str
    Timestamp: datetime


def parse_image_notification(image: object, time: datetime, path: str = "$") -> BuildEvent:
    """Image Builder's SNS notification (the Image object), timed by its envelope."""
    wire = structure(image, _ImageNotification, path)
    return BuildEvent(
        build=wire.arn,
        status=wire.state.status,
        time=time,
        reason=reason(wire.state.reason),
        amis=tuple(RegionalAmi(a.region, a.image) for a in wire.outputResources.amis),
        pipeline_arn=wire.sourcePipelineArn,
        origin="sns",
    )


def parse_sns_envelope(envelope: object, path: str) -> BuildEvent:
    """An SNS envelope whose ``Message`` is an Image Builder notification."""
    wire = structure(envelope, _SnsEnvelope, path)
    return parse_image_notification(
        json_text(wire.Message, f"{path}.Message"), wire.Timestamp, f"{path}.Message"
    )


__all__ = ["parse_image_notification", "parse_sns_envelope"]
