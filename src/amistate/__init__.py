"""amistate: keep the AMI of every spot-runner preset current.

Image Builder build events become ordered state transitions on one DynamoDB
record per preset and a merge of that preset's SSM parameter, correctly under
at-least-once, unordered, concurrent delivery.

The pure core lives in :mod:`amistate.events`, :mod:`amistate.parsing`,
:mod:`amistate.rules` (the ordering rules, all of them) and
:mod:`amistate.merge`; :mod:`amistate.ports` declares what the core needs from
AWS; :mod:`amistate.service` runs one event through the ports. Other Lambdas
read a preset with ``amistate.read`` (imported at its first use).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from amistate.errors import AmistateError, MalformedEvent

if TYPE_CHECKING:
    from amistate import read

__all__ = ["AmistateError", "MalformedEvent", "read"]
__version__ = "0.1.0"

#: Submodules ``import amistate`` offers as attributes, imported at first use so
#: the event Lambda's cold start never pays for them.
_LAZY = frozenset({"read"})


def __getattr__(name: str) -> ModuleType:
    """``amistate.read`` without ``import amistate.read`` (imported on first access)."""
    if name in _LAZY:
        return importlib.import_module(f"amistate.{name}")
    raise AttributeError(f"module 'amistate' has no attribute {name!r}")
