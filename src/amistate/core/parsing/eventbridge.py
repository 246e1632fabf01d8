"""The EventBridge ``EC2 Image Builder Image State Change`` event.

Build ARN in ``resources[0]``, status in ``detail.state.status``, the time in
``time``; no AMI and no pipeline in it (the service asks ``GetImage``).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from attrs import frozen

from amistate.core.arns import BuildArn
from amistate.core.events import BuildEvent
from amistate.core.parsing.strict import State, reason, structure
from amistate.errors import MalformedEvent

EVENT_SOURCE = "aws.imagebuilder"
DETAIL_TYPE = "EC2 Image Builder Image State Change"


@frozen
class _Detail:
    state: State


@frozen
class _EventBridgeEvent:
    RENAMES: ClassVar[dict[str, str]] = {"detail_type": "detail-type"}

    source: str
    detail_type: str
    time: datetime
    resources: list[BuildArn]
    detail: _Detail


def parse_eventbridge(event: object, path: str = "$") -> BuildEvent:
    """An EventBridge ``EC2 Image Builder Image State Change`` event."""
    wire = structure(event, _EventBridgeEvent, path)
    if wire.source != EVENT_SOURCE:
        raise MalformedEvent(f"{path}.source", f"expected {EVENT_SOURCE!r}")
    if wire.detail_type != DETAIL_TYPE:
        raise MalformedEvent(f"{path}.detail-type", f"expected {DETAIL_TYPE!r}")
    if not wire.resources:
        raise MalformedEvent(f"{path}.resources", "expected the image build version ARN, got []")
    state = wire.detail.state
    return BuildEvent(
        build=wire.resources[0],
        status=state.status,
        time=wire.time,
        reason=reason(state.reason),
        origin="eventbridge",
    )


__all__ = ["DETAIL_TYPE", "EVENT_SOURCE", "parse_eventbridge"]
