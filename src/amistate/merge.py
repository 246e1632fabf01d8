"""The SSM merge: set ``amiId``, keep every other key and its JSON type."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from amistate.errors import InvalidConfig

AMI_ID_KEY = "amiId"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:32]} is out of range")
    return value


def load_object(text: str, what: str) -> dict[str, Any]:
    """Parse ``text`` as a JSON object, or raise InvalidConfig naming ``what``."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except (ValueError, RecursionError) as exc:
        raise InvalidConfig(f"{what}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise InvalidConfig(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


def dump_object(value: Mapping[str, Any]) -> str:
    """Serialise a config compactly and deterministically (key order kept)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def merge_parameter(current: str | None, config: Mapping[str, Any] | None, ami_id: str) -> str:
    """The parameter value that makes ``amiId`` equal ``ami_id``.

    * an existing value keeps every key but ``amiId``, with its JSON type;
      if it already says ``ami_id`` it is returned unchanged, byte for byte,
      so the caller can skip the write;
    * a missing parameter (``current is None``) is created from the preset's
      stored ``config`` plus ``amiId``;
    * an existing value that is not a JSON object is never overwritten:
      :class:`InvalidConfig` is raised instead.
    """
    if current is None:
        merged = dict(config or {})
    else:
        merged = load_object(current, "SSM parameter value")
        if merged.get(AMI_ID_KEY) == ami_id:
            return current
    merged[AMI_ID_KEY] = ami_id
    return dump_object(merged)


def ami_of(value: str | None) -> str | None:
    """The ``amiId`` an SSM value holds (None when absent or unreadable)."""
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    ami = parsed.get(AMI_ID_KEY) if isinstance(parsed, dict) else None
    return ami if isinstance(ami, str) else None
