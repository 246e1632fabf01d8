"""amistate: keep the AMI of every spot-runner preset current.

Image Builder build events become ordered state transitions on one DynamoDB
record per preset and a merge of that preset's SSM parameter, correctly under
at-least-once, unordered, concurrent delivery.

The pure core lives in :mod:`amistate.core.events`, :mod:`amistate.core.parsing`,
:mod:`amistate.core.rules` (the ordering rules, all of them) and
:mod:`amistate.core.merge`; :mod:`amistate.ports` declares what the core needs from
AWS; :mod:`amistate.usecases.service` runs one event through the ports. Other Lambdas
read a preset with ``amistate.read`` (imported at its first use); its types
(``AmiState``, ``BuildRecord``, ``Pin``, ``RunnerAmi``) are importable from here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from amistate.errors import AmistateError, MalformedEvent

if TYPE_CHECKING:
    from amistate import read
    from amistate.core.state import AmiState, BuildRecord, Pin, RunnerAmi

__all__ = [
    "AmiState",
    "AmistateError",
    "BuildRecord",
    "MalformedEvent",
    "Pin",
    "RunnerAmi",
    "read",
]
__version__ = "0.1.0"

#: Submodules ``import amistate`` offers as attributes, imported at first use so
#: the event Lambda's cold start never pays for them.
_LAZY = frozenset({"read"})
#: The reader's value types, from :mod:`amistate.core.state` at first use.
_TYPES = frozenset({"AmiState", "BuildRecord", "Pin", "RunnerAmi"})


def __getattr__(name: str) -> Any:
    """``amistate.read`` without ``import amistate.read``, and the reader's types
    (imported on first access)."""
    if name in _LAZY:
        return importlib.import_module(f"amistate.{name}")
    if name in _TYPES:
        return getattr(importlib.import_module("amistate.core.state"), name)
    raise AttributeError(f"module 'amistate' has no attribute {name!r}")
