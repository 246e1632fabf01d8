"""Pin, unpin and rollback: the operator's part of a preset's desired state.

A pin names one of the preset's good builds; while it is set, every region's
parameter holds that build's AMIs whatever builds arrive (they are still
recorded). The pin is written conditionally (on the pin it replaces, and on
the build being a good one in the history), then the parameters are converged
through the same write-and-confirm loop as events, so a pin racing an event or
a reconcile run still wins at quiescence, and an unpin hands the parameter back
to the newest good build.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from attrs import frozen

from amistate.core.builds import find_build, good_builds, pin_to
from amistate.core.merge import ami_of
from amistate.core.state import AmiState, BuildRecord, Pin
from amistate.errors import ContentionError, PinRefused
from amistate.ports import StateStore
from amistate.usecases.converge import Converger
from amistate.usecases.records import require

#: A conditional pin write loses only to another pin or unpin; this bounds a storm.
MAX_PIN_ATTEMPTS = 8

Action = Literal["pinned", "unpinned", "unchanged"]


@frozen
class PinChange:
    """What a pin, unpin or rollback did, and what the home parameter holds after."""

    preset: str
    action: Action
    pin: Pin | None
    ami_id: str | None


def _now() -> datetime:
    return datetime.now(UTC)


@frozen
class Pins:
    converger: Converger
    states: StateStore
    clock: Callable[[], datetime] = _now

    def pin(self, preset: str, target: str, reason: str | None = None) -> PinChange:
        """Pin ``preset`` to the good build that produced AMI ``target`` or has ARN ``target``."""

        def choose(record: AmiState) -> BuildRecord:
            build = find_build(record.history.values(), target)
            if build is None:
                raise PinRefused(
                    f"{target[:200]!r} is neither the AMI nor the build ARN of a good build of "
                    f"preset {preset} (see `amistate history {preset}`); nothing was written"
                )
            return build

        return self._set(preset, choose, reason)

    def rollback(self, preset: str, reason: str | None = None) -> PinChange:
        """Pin to the newest good build older than the one the parameter holds."""

        def choose(record: AmiState) -> BuildRecord:
            holding = self._held_build(record)
            older = [b for b in good_builds(record.history.values()) if b.key < holding.key]
            if not older:
                raise PinRefused(
                    f"preset {preset}: no good build older than {holding.build_id} "
                    f"(AMI {holding.ami_id}) in its history; nothing was written"
                )
            return older[0]

        return self._set(preset, choose, reason or "rollback")

    def unpin(self, preset: str) -> PinChange:
        """Remove the pin: the parameters converge on the newest good build."""
        for _ in range(MAX_PIN_ATTEMPTS):
            record = require(self.states, self.converger.settings.table, preset)
            if record.pin is None:
                done = self.converger.converge(preset, record)
                return PinChange(preset, "unchanged", None, done.ami_id)
            after = self.states.set_pin(preset, None, expected=record.pin.build_id)
            if after is not None:
                return PinChange(
                    preset, "unpinned", None, self.converger.converge(preset, after).ami_id
                )
        raise ContentionError(f"preset {preset}: {MAX_PIN_ATTEMPTS} conflicting pin writes")

    def _set(
        self, preset: str, choose: Callable[[AmiState], BuildRecord], reason: str | None
    ) -> PinChange:
        for _ in range(MAX_PIN_ATTEMPTS):
            record = require(self.states, self.converger.settings.table, preset)
            build = choose(record)
            if record.pin is not None and record.pin.build_id == build.build_id:
                done = self.converger.converge(preset, record)
                return PinChange(preset, "unchanged", record.pin, done.ami_id)
            pin = pin_to(build, self.clock(), reason)
            expected = record.pin.build_id if record.pin is not None else None
            after = self.states.set_pin(preset, pin, expected=expected)
            if after is not None:
                return PinChange(
                    preset, "pinned", pin, self.converger.converge(preset, after).ami_id
                )
        raise ContentionError(f"preset {preset}: {MAX_PIN_ATTEMPTS} conflicting pin writes")

    def _held_build(self, record: AmiState) -> BuildRecord:
        """The good build whose AMI the home parameter holds now (else the record's)."""
        if not good_builds(record.history.values()):
            raise PinRefused(
                f"preset {record.preset} has no good build yet, so nothing to roll back to "
                f"(see `amistate history {record.preset}`); nothing was written"
            )
        home = self.converger.settings.home_region
        parameter = self.converger.parameter(home, record.preset)
        holding = ami_of(parameter.value if parameter else None) or record.ami_for(home)
        build = find_build(record.history.values(), holding) if holding else None
        if build is None:
            raise PinRefused(
                f"preset {record.preset}: the parameter holds {holding or 'no AMI'}, which no "
                "good build in its history produced; pin a build explicitly"
            )
        return build


__all__ = ["PinChange", "Pins"]
