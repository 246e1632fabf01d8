"""SSM values as JSON objects: strict parsing, compact serialisation, reading ``amiId`` back.

What a value *should* be is :mod:`amistate.core.desired`'s question."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from amistate.errors import InvalidConfig

AMI_ID_KEY = "amiId"
#: The waiting candidate's AMI, present only while one waits (amistate.core.rollout).
CANDIDATE_AMI_ID_KEY = "candidateAmiId"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:32]} is out of range")
    return value


#: Made once: ``json.loads``/``json.dumps`` with options build a new decoder or encoder
#: at every call, a fifth of the cost of a small document (every converge reads and
#: writes one per parameter).
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def load_object(text: str, what: str) -> dict[str, Any]:
    """Parse ``text`` as a JSON object, or raise InvalidConfig naming ``what``."""
    try:
        value = _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidConfig(f"{what}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise InvalidConfig(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


def dump_object(value: Mapping[str, Any]) -> str:
    """Serialise a config compactly and deterministically (key order kept)."""
    return _ENCODER.encode(value)


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
