"""The EventBridge ``EC2 Image Builder Image State Change`` event.

Build ARN in ``resources[0]``, status in ``detail.state.status``, the time in
``time``; no AMI and no pipeline in it (the service asks ``GetImage``).

The one well-formed shape is read by hand (:func:`well_formed`), so the cold
start of the event Lambda imports neither cattrs nor the strict converter;
anything else goes through the strict converter (:mod:`.eventbridge_strict`),
which accepts it or names the offending field. The hand reading accepts only
what the converter accepts, to the same value
(``tests/core/test_parsing.py`` checks both on corrupted events).
"""

from __future__ import annotations

from amistate.core.arns import parse_build_arn
from amistate.core.events import BuildEvent
from amistate.core.parsing.wire import STATUS, parse_time, reason

EVENT_SOURCE = "aws.imagebuilder"
DETAIL_TYPE = "EC2 Image Builder Image State Change"


def parse_eventbridge(event: object, path: str = "$") -> BuildEvent:
    """An EventBridge ``EC2 Image Builder Image State Change`` event."""
    found = well_formed(event)
    if found is not None:
        return found
    from amistate.core.parsing.eventbridge_strict import parse_strict

    return parse_strict(event, path)


def well_formed(event: object) -> BuildEvent | None:
    """The event, when it has exactly the shape the strict converter accepts and
    every check passes; None for anything else (the converter then decides)."""
    if not isinstance(event, dict):
        return None
    detail, resources = event.get("detail"), event.get("resources")
    if not isinstance(detail, dict) or not isinstance(resources, list) or not resources:
        return None
    state = detail.get("state")
    if not isinstance(state, dict):
        return None
    status, why = state.get("status"), state.get("reason")
    if type(status) is not str or not STATUS.fullmatch(status):
        return None
    if not (why is None or type(why) is str):
        return None
    source, detail_type = event.get("source"), event.get("detail-type")
    if type(source) is not str or source != EVENT_SOURCE:
        return None
    if type(detail_type) is not str or detail_type != DETAIL_TYPE:
        return None
    try:
        time = parse_time(event.get("time"))
        builds = [parse_build_arn(arn) for arn in resources]
    except (TypeError, ValueError, OverflowError):
        return None
    return BuildEvent(
        build=builds[0], status=status, time=time, reason=reason(why), origin="eventbridge"
    )


__all__ = ["DETAIL_TYPE", "EVENT_SOURCE", "parse_eventbridge", "well_formed"]
