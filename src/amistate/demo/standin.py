"""Moved to :mod:`amistate.testing.standin` (the public test kit); kept only until the
bench imports it from there (nothing in src/ or tests/ does)."""

from amistate.testing.shapes import iso, state_change_event
from amistate.testing.standin import ImageBuilderStandIn

__all__ = ["ImageBuilderStandIn", "iso", "state_change_event"]
