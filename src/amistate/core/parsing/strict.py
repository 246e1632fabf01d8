"""The strict converter every input shape is parsed with, and the validators shapes share.

Strict: a number is never silently turned into a string, a list is never a
string. Two converters with the same hooks accept exactly the same inputs:
the fast one structures well-formed events; the detailed one (several times
slower, built only on the first failure) names the offending field path.
Imported with the first record that needs it: an SNS or SQS notification, or
an EventBridge event that is not the one well-formed shape :mod:`.eventbridge`
reads by hand. The hook-free wire values live in :mod:`.wire`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs
import cattrs
from attrs import field, frozen
from cattrs.cols import is_sequence, list_structure_factory
from cattrs.gen import make_dict_structure_fn, override

from amistate.core.arns import BuildArn, is_pipeline_arn, parse_build_arn
from amistate.core.parsing.wire import STATUS, json_text, parse_time, reason
from amistate.errors import MalformedEvent

T = TypeVar("T")


class FieldError(ValueError):
    """A validator's refusal of one field: :func:`structure` adds ``field`` to the path."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field


#: Separates a refused field's name from the problem in cattrs' transformed messages.
_FIELD = "\x1f"


def matches(pattern: re.Pattern[str], what: str) -> Callable[[object, Any, str], None]:
    """An attrs validator: the value must match ``pattern`` in full."""

    def check(_: object, attribute: Any, value: str) -> None:
        if not pattern.fullmatch(value):
            raise FieldError(attribute.name, f"not a valid {what}: {value[:80]!r}")

    return check


def pipeline(_: object, attribute: Any, value: str | None) -> None:
    """An attrs validator: None, or an Image Builder pipeline ARN."""
    if value is not None and not is_pipeline_arn(value):
        raise FieldError(attribute.name, f"not an Image Builder pipeline ARN: {value[:200]!r}")


@frozen
class State:
    """``state`` of an EventBridge detail and of an Image object."""

    status: str = field(validator=matches(STATUS, "image status"))
    reason: str | None = None


def _strict(kind: type[T]) -> Callable[[object, type], T]:
    def structure(value: object, _: type) -> T:
        if type(value) is not kind:
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    return structure


_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
# Image Builder's SNS notification: Java's US medium format, "Jan 18, 2024 5:21:03 PM" (UTC).
# Newer JDKs put a narrow no-break space before AM/PM; either space is accepted.
_NOTIFICATION_TIME = re.compile(
    r"([A-Z][a-z]{2}) ([0-9]{1,2}), ([0-9]{4}) ([0-9]{1,2}):([0-9]{2}):([0-9]{2})"
    r"[ \u00a0\u202f](AM|PM)"
)
DATE_CREATED_FORMATS = "'Jan 18, 2024 5:21:03 PM' (UTC) or ISO 8601 with a zone"


def parse_date_created(value: str) -> datetime:
    """Image Builder's ``dateCreated`` (when the build started), in UTC.

    Two spellings: the SNS notification's ``"Jan 18, 2024 5:21:03 PM"``
    (UTC, no zone written) and the API's ISO 8601 ``"2024-01-18T17:21:03.113Z"``.
    Raises ValueError for anything else.
    """
    problem = f"not a build start time ({DATE_CREATED_FORMATS}): {value[:64]!r}"
    match = _NOTIFICATION_TIME.fullmatch(value)
    if match is None:
        try:
            return parse_time(value)
        except (ValueError, OverflowError):
            raise ValueError(problem) from None
    month, day, year, hour, minute, second, half = match.groups()
    if month not in _MONTHS or not 1 <= int(hour) <= 12:
        raise ValueError(problem)
    hours = int(hour) % 12 + (12 if half == "PM" else 0)
    try:
        return datetime(
            int(year), _MONTHS[month], int(day), hours, int(minute), int(second), tzinfo=UTC
        )
    except ValueError:
        raise ValueError(problem) from None


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
        renames = getattr(t, "RENAMES", {})
        fields = {name: override(rename=wire) for name, wire in renames.items()}
        hook = make_dict_structure_fn(t, conv, **fields)  # type: ignore[arg-type]
        return _only(dict, "an object", hook)

    c.register_structure_hook_factory(is_sequence, lists)
    c.register_structure_hook_factory(attrs.has, objects)
    c.register_structure_hook(str, _strict(str))
    c.register_structure_hook(int, _strict(int))
    c.register_structure_hook(bool, _strict(bool))
    c.register_structure_hook(datetime, parse_time)
    c.register_structure_hook(BuildArn, _build_arn)
    return c


_FAST = _converter(detailed=False)


@functools.cache
def _detailed() -> cattrs.Converter:
    return _converter(detailed=True)


def _explain(exc: BaseException, kind: type | None) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, FieldError):
        return f"{exc.field}{_FIELD}{exc}"
    return str(exc) or f"invalid value (expected {getattr(kind, '__name__', kind)})"


def structure(data: object, kind: type[T], path: str) -> T:
    """``data`` as ``kind``, or MalformedEvent naming the first bad field under ``path``."""
    if not isinstance(data, dict):
        raise MalformedEvent(path or "$", f"expected a JSON object, got {type(data).__name__}")
    try:
        return _FAST.structure(data, kind)
    except Exception:  # noqa: S110 - diagnosed below by the detailed converter
        pass
    try:
        return _detailed().structure(data, kind)
    except cattrs.BaseValidationError as exc:
        first = cattrs.transform_error(exc, path=path or "$", format_exception=_explain)[0]
        problem, _, where = first.rpartition(" @ ")
        field, _, problem = problem.rpartition(_FIELD)
        raise MalformedEvent(f"{where}.{field}" if field else where, problem or first) from None
    except FieldError as exc:  # a validator of the top-level object
        raise MalformedEvent(f"{path or '$'}.{exc.field}", str(exc)) from None
    except (ValueError, TypeError) as exc:  # a hook's own error at the top level
        raise MalformedEvent(path or "$", str(exc)) from None


__all__ = [
    "DATE_CREATED_FORMATS",
    "FieldError",
    "State",
    "json_text",
    "matches",
    "parse_date_created",
    "parse_time",
    "pipeline",
    "reason",
    "structure",
]
