"""Parse every input shape into :class:`~amistate.events.BuildEvent`, strictly.

Accepted shapes:

* an EventBridge ``EC2 Image Builder Image State Change`` event (build ARN in
  ``resources[0]``, status in ``detail.state.status``; no AMI in it);
* a Lambda SNS event whose messages are Image Builder notifications (the whole
  Image object: AMIs in ``outputResources.amis``, ``sourcePipelineArn``); the
  event time is the SNS ``Timestamp``;
* a Lambda SQS event whose bodies are either of the above (an SNS envelope, or
  a raw Image object with raw message delivery, timed by ``SentTimestamp``).

Anything else raises :class:`~amistate.errors.MalformedEvent` naming the field
path; no bare KeyError/TypeError/IndexError escapes. The converters are strict:
a number is never silently turned into a string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import attrs
import cattrs
from attrs import field, frozen
from cattrs.cols import is_sequence, list_structure_factory
from cattrs.gen import make_dict_structure_fn, override

from amistate.arns import BuildArn, is_pipeline_arn, parse_build_arn
from amistate.errors import MalformedEvent
from amistate.events import BuildEvent, RegionalAmi
from amistate.names import REGION_NAME

EVENT_SOURCE = "aws.imagebuilder"
DETAIL_TYPE = "EC2 Image Builder Image State Change"
_AMI_ID = re.compile(r"ami-[0-9a-f]{8,17}")
_STATUS = re.compile(r"[A-Z_]{1,32}")
_MAX_REASON = 1024

T = TypeVar("T")


# --- wire shapes: what AWS sends, field for field -------------------------------


def _matches(pattern: re.Pattern[str], what: str) -> Callable[[object, Any, str], None]:
    def check(_: object, __: Any, value: str) -> None:
        if not pattern.fullmatch(value):
            raise ValueError(f"not a valid {what}: {value[:80]!r}")

    return check


def _pipeline(_: object, __: Any, value: str | None) -> None:
    if value is not None and not is_pipeline_arn(value):
        raise ValueError(f"not an Image Builder pipeline ARN: {value[:200]!r}")


@frozen
class _State:
    status: str = field(validator=_matches(_STATUS, "image status"))
    reason: str | None = None


@frozen
class _Detail:
    state: _State


@frozen
class _EventBridgeEvent:
    source: str
    detail_type: str
    time: datetime
    resources: list[BuildArn]
    detail: _Detail


@frozen
class _Ami:
    region: str = field(validator=_matches(REGION_NAME, "region"))
    image: str = field(validator=_matches(_AMI_ID, "AMI ID"))


@frozen
class _OutputResources:
    amis: list[_Ami] = field(factory=list)


@frozen
class _ImageNotification:
    arn: BuildArn
    state: _State
    sourcePipelineArn: str | None = field(default=None, validator=_pipeline)
    outputResources: _OutputResources = field(factory=_OutputResources)


@frozen
class _SnsEnvelope:
    Message: str
    Timestamp: datetime


# --- a strict converter -----------------------------------------------------------


def _strict(kind: type[T]) -> Callable[[object, type], T]:
    def structure(value: object, _: type) -> T:
        if type(value) is not kind:
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    return structure


def parse_time(value: object, _: type | None = None) -> datetime:
    """An ISO 8601 time with a zone, normalised to UTC."""
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 time: {value[:64]!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"time without a zone: {value[:64]!r}")
    return parsed.astimezone(UTC)


def _build_arn(value: object, _: type) -> BuildArn:
    if not isinstance(value, str):
        raise TypeError(f"expected a build ARN string, got {type(value).__name__}")
    return parse_build_arn(value)


def _only(kind: type, what: str, hook: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Refuse values of the wrong JSON type before cattrs tries to coerce them."""

    def structure(value: object, target: Any) -> Any:
        if not isinstance(value, kind):
            raise TypeError(f"expected {what}, got {type(value).__name__}")
        return hook(value, target)

    return structure


def _converter(detailed: bool) -> cattrs.Converter:
    c = cattrs.Converter(forbid_extra_keys=False, detailed_validation=detailed)

    def lists(t: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
        return _only(list, "a list", list_structure_factory(t, conv))

    def objects(t: Any, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
        if t is _EventBridgeEvent:
            hook = make_dict_structure_fn(t, conv, detail_type=override(rename="detail-type"))
        else:
            hook = make_dict_structure_fn(t, conv)
        return _only(dict, "an object", hook)

    c.register_structure_hook_factory(is_sequence, lists)
    c.register_structure_hook_factory(attrs.has, objects)
    c.register_structure_hook(str, _strict(str))
    c.register_structure_hook(int, _strict(int))
    c.register_structure_hook(bool, _strict(bool))
    c.register_structure_hook(datetime, parse_time)
    c.register_structure_hook(BuildArn, _build_arn)
    return c


#: Two converters with the same hooks, so they accept exactly the same inputs:
#: the fast one structures well-formed events; the detailed one (several times
#: slower) runs only on a failure, to name the offending field path.
_FAST = _converter(detailed=False)
_DETAILED = _converter(detailed=True)


def _explain(exc: BaseException, kind: type | None) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    return str(exc) or f"invalid value (expected {getattr(kind, '__name__', kind)})"


def _structure(data: object, kind: type[T], path: str) -> T:
    if not isinstance(data, dict):
        raise MalformedEvent(path or "$", f"expected a JSON object, got {type(data).__name__}")
    try:
        return _FAST.structure(data, kind)
    except Exception:  # noqa: S110 - diagnosed below by the detailed converter
        pass
    try:
        return _DETAILED.structure(data, kind)
    except cattrs.BaseValidationError as exc:
        first = cattrs.transform_error(exc, path=path or "$", format_exception=_explain)[0]
        problem, _, where = first.rpartition(" @ ")
        raise MalformedEvent(where, problem or first) from None
    except (ValueError, TypeError) as exc:  # a hook's own error at the top level
        raise MalformedEvent(path or "$", str(exc)) from None


def _json(text: object, path: str) -> Any:
    if not isinstance(text, str):
        raise MalformedEvent(path, f"expected a JSON string, got {type(text).__name__}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedEvent(path, f"not valid JSON ({exc.__class__.__name__})") from None


def _reason(text: str | None) -> str | None:
    return text[:_MAX_REASON] if text else None


# --- the shapes ---------------------------------------------------------------------


def parse_eventbridge(event: object, path: str = "$") -> BuildEvent:
    """An EventBridge ``EC2 Image Builder Image State Change`` event."""
    wire = _structure(event, _EventBridgeEvent, path)
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
        reason=_reason(state.reason),
        origin="eventbridge",
    )


def parse_image_notification(image: object, time: datetime, path: str = "$") -> BuildEvent:
    """Image Builder's SNS notification (the Image object), timed by its envelope."""
    wire = _structure(image, _ImageNotification, path)
    return BuildEvent(
        build=wire.arn,
        status=wire.state.status,
        time=time,
        reason=_reason(wire.state.reason),
        amis=tuple(RegionalAmi(a.region, a.image) for a in wire.outputResources.amis),
        pipeline_arn=wire.sourcePipelineArn,
        origin="sns",
    )


def _parse_sns_envelope(envelope: object, path: str) -> BuildEvent:
    wire = _structure(envelope, _SnsEnvelope, path)
    return parse_image_notification(
        _json(wire.Message, f"{path}.Message"), wire.Timestamp, f"{path}.Message"
    )


def _parse_sqs_body(record: Mapping[str, Any], path: str) -> BuildEvent:
    body = _json(record.get("body"), f"{path}.body")
    where = f"{path}.body"
    if isinstance(body, dict) and "detail-type" in body:
        return parse_eventbridge(body, where)
    if isinstance(body, dict) and body.get("Type") == "Notification":
        return _parse_sns_envelope(body, where)
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
        return _attempt(path, lambda: _parse_sqs_body(record, path), message_id)
    if record.get("EventSource") != "aws:sns":
        return Item(path, MalformedEvent(f"{path}.EventSource", "expected 'aws:sns'"))
    return _attempt(path, lambda: _parse_sns_envelope(record.get("Sns"), f"{path}.Sns"), None)


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
    "parse_event",
    "parse_eventbridge",
    "parse_image_notification",
    "parse_invocation",
    "parse_time",
]
