"""What :func:`amistate.core.rules.decide` answers after a conditional write lost.

The rules themselves are :mod:`amistate.core.rules` (which re-exports these); the
answers live here so that an event whose write wins at once, every cold start's
first event, never builds them.
"""

from __future__ import annotations

from attrs import frozen

from amistate.core.rules import Transition
from amistate.core.state import AmiState


@frozen
class Apply:
    """Write ``transition`` (conditionally: another writer may still win)."""

    transition: Transition


@frozen
class Duplicate:
    """The record already holds this very event: no state change."""

    record: AmiState


@frozen
class Stale:
    """A newer event already won: no DynamoDB write at all."""

    record: AmiState


@frozen
class Moved:
    """The record follows another pipeline now: no state change, no SSM write."""

    record: AmiState


Decision = Apply | Duplicate | Stale | Moved


__all__ = ["Apply", "Decision", "Duplicate", "Moved", "Stale"]
