"""The EventBridge event on the strict converter: what is wrong with it, by field path.

:mod:`.eventbridge` reads the well-formed shape by hand; everything else comes
here (imported then, with cattrs), and is either accepted, to the same value,
or refused with :class:`~amistate.errors.MalformedEvent` naming the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from attrs import frozen

from amistate.core.arns import BuildArn
from amistate.core.events import BuildEvent
from amistate.core.parsing.eventbridge import DETAIL_TYPE, EVENT_SOURCE
from amistate.core.parsing.strict import State, reason, structure
from amistate.errors import MalformedEvent


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


def parse_strict(event: object, path: str = "$") -> BuildEvent:
    """The event on the strict converter, or MalformedEvent naming the field."""
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


__all__ = ["parse_strict"]
