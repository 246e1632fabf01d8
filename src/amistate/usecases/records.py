"""Reading a preset's record where a missing one is the caller's mistake."""

from __future__ import annotations

from collections.abc import Sequence

from amistate.core.names import state_pk, validate_preset
from amistate.core.state import AmiState
from amistate.errors import UnknownPreset
from amistate.ports import StateStore


def require(states: StateStore, table: str | None, preset: str) -> AmiState:
    """``preset``'s record (one consistent read), or UnknownPreset naming ``table`` and the key."""
    record = states.get(validate_preset(preset))
    if record is None:
        raise UnknownPreset(
            f"unknown preset {preset!r}: table {table} has no record {state_pk(preset)}"
        )
    return record


def records_of(
    states: StateStore, table: str | None, presets: Sequence[str] = ()
) -> list[AmiState]:
    """The named presets' records (UnknownPreset for a missing one), or every record."""
    if not presets:
        return list(states.scan())
    return [require(states, table, preset) for preset in dict.fromkeys(presets)]


__all__ = ["records_of", "require"]
