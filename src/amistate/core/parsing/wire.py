"""Wire values every input shape shares, read without cattrs: an ISO time, an image
status, a failure reason, a JSON document in a string.

The EventBridge path reads its one well-formed shape by hand with these
(:mod:`.eventbridge`), so a cold start on it never imports cattrs; the strict
converter (:mod:`.strict`) registers the same functions, so both accept the
same values.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from amistate.errors import MalformedEvent

#: What an Image Builder status looks like (``AVAILABLE``, ``BUILDING``, ...).
STATUS = re.compile(r"[A-Z_]{1,32}")
_MAX_REASON = 1024


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


def reason(text: str | None) -> str | None:
    """A failure reason, cut to a bounded length."""
    return text[:_MAX_REASON] if text else None


def json_text(text: object, path: str) -> Any:
    """The JSON document in ``text`` (a string), or MalformedEvent at ``path``."""
    if not isinstance(text, str):
        raise MalformedEvent(path, f"expected a JSON string, got {type(text).__name__}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedEvent(path, f"not valid JSON ({exc.__class__.__name__})") from None


__all__ = ["STATUS", "json_text", "parse_time", "reason"]
