"""Moved to :mod:`amistate.testing.shapes` (the public test kit); kept for old imports."""

from amistate.testing.shapes import (
    TERMINAL,
    copy_json,
    image_object,
    iso,
    state_change_event,
    summary_of,
    workflows_of,
)

__all__ = [
    "TERMINAL",
    "copy_json",
    "image_object",
    "iso",
    "state_change_event",
    "summary_of",
    "workflows_of",
]
