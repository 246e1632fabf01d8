"""Parse every input shape into :class:`~amistate.core.events.BuildEvent`, strictly.

Accepted shapes:

* an EventBridge ``EC2 Image Builder Image State Change`` event (build ARN in
  ``resources[0]``, status in ``detail.state.status``; no AMI in it);
* a Lambda SNS event whose messages are Image Builder notifications (the whole
  Image object: AMIs in ``outputResources.amis``, only this account's kept,
  ``sourcePipelineArn``, and ``dateCreated``, the build's start, which orders
  builds); the displayed event time is the SNS ``Timestamp``;
* a Lambda SQS event whose bodies are either of the above (an SNS envelope, or
  a raw Image object with raw message delivery, timed by its own
  ``dateCreated``). No delivery time (``SentTimestamp``, receive or processing
  time) is ever read: order is a property of the build, not of its delivery.

EventBridge events carry no build start: their ``created`` stays ``None`` and
the service asks ``GetImage``.

Anything else raises :class:`~amistate.errors.MalformedEvent` naming the field
path; no bare KeyError/TypeError/IndexError escapes. One module per input
shape (:mod:`.eventbridge`, :mod:`.sns`, :mod:`.sqs`), all on the strict
converter of :mod:`.strict`; this module splits a Lambda invocation into records.
The SNS and SQS modules are imported with the first record of their shape, and
the strict converter (with cattrs) with the first record that needs it: a
well-formed EventBridge event is read by hand, so a cold start on the
EventBridge path pays for none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from attrs import frozen

from amistate.core.events import BuildEvent
from amistate.core.parsing.eventbridge import DETAIL_TYPE, EVENT_SOURCE, parse_eventbridge
from amistate.core.parsing.wire import parse_time
from amistate.errors import MalformedEvent

if TYPE_CHECKING:
    from amistate.core.parsing.sns import parse_image_notification
    from amistate.core.parsing.strict import parse_date_created


def __getattr__(name: str) -> Any:
    """``parse_image_notification`` and ``parse_date_created``, re-exported, imported
    on first use (with cattrs)."""
    if name == "parse_image_notification":
        from amistate.core.parsing import sns

        return sns.parse_image_notification
    if name == "parse_date_created":
        from amistate.core.parsing import strict

        return strict.parse_date_created
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- a whole Lambda invocation ------------------------------------------------------

Kind = Literal["eventbridge", "sns", "sqs"]


@frozen
class Item:
    """One record of an invocation: its event, or why it could not be parsed.

    ``message_id`` is the SQS ``messageId`` that a partial batch response names.
    """

    path: str
    result: BuildEvent | MalformedEvent
    message_id: str | None = None


@frozen
class Invocation:
    kind: Kind
    items: tuple[Item, ...]


def _attempt(path: str, parse: Callable[[], BuildEvent], message_id: str | None) -> Item:
    try:
        return Item(path, parse(), message_id)
    except MalformedEvent as exc:
        return Item(path, exc, message_id)


def parse_invocation(event: object) -> Invocation:
    """Split a Lambda event into records and parse each one on its own.

    A record that cannot be parsed becomes an :class:`Item` holding its
    :class:`MalformedEvent`, so the others still run; an event that is not
    any known shape at all raises :class:`MalformedEvent` at once.
    """
    if not isinstance(event, dict):
        raise MalformedEvent("$", f"expected a JSON object, got {type(event).__name__}")
    if "Records" not in event:
        if "detail-type" not in event:
            raise MalformedEvent(
                "$", "not an EventBridge event, SNS event or SQS event (no detail-type or Records)"
            )
        return Invocation("eventbridge", (Item("$", parse_eventbridge(event)),))
    records = event["Records"]
    if not isinstance(records, list) or not records:
        raise MalformedEvent("$.Records", "expected a non-empty list of records")
    first = records[0] if isinstance(records[0], dict) else {}
    kind: Kind = "sqs" if first.get("eventSource") == "aws:sqs" else "sns"
    items = tuple(_record(kind, i, record) for i, record in enumerate(records))
    return Invocation(kind, items)


def _record(kind: Kind, index: int, record: object) -> Item:
    path = f"$.Records[{index}]"
    if not isinstance(record, dict):
        return Item(path, MalformedEvent(path, "expected a JSON object"))
    if kind == "sqs":
        message_id = record.get("messageId")
        if not isinstance(message_id, str) or not message_id:
            return Item(path, MalformedEvent(f"{path}.messageId", "missing SQS messageId"))
        if record.get("eventSource") != "aws:sqs":
            error = MalformedEvent(f"{path}.eventSource", "expected 'aws:sqs'")
            return Item(path, error, message_id)
        from amistate.core.parsing.sqs import parse_sqs_body

        return _attempt(path, lambda: parse_sqs_body(record, path), message_id)
    from amistate.core.parsing.sns import parse_sns_envelope

    if record.get("EventSource") != "aws:sns":
        return Item(path, MalformedEvent(f"{path}.EventSource", "expected 'aws:sns'"))
    return _attempt(path, lambda: parse_sns_envelope(record.get("Sns"), f"{path}.Sns"), None)


def parse_event(event: object) -> BuildEvent:
    """Parse an event that holds exactly one build event; raise MalformedEvent otherwise."""
    invocation = parse_invocation(event)
    if len(invocation.items) != 1:
        raise MalformedEvent("$.Records", f"expected one record, got {len(invocation.items)}")
    result = invocation.items[0].result
    if isinstance(result, MalformedEvent):
        raise result
    return result


__all__ = [
    "DETAIL_TYPE",
    "EVENT_SOURCE",
    "Invocation",
    "Item",
    "parse_date_created",
    "parse_event",
    "parse_eventbridge",
    "parse_image_notification",
    "parse_invocation",
    "parse_time",
]
