"""Promote and reject: the operator's part of a rollout.

``promote`` makes a preset's waiting candidate live; ``reject`` marks a good
build rejected for good (by default the candidate), falling back from it when
it is live (:func:`amistate.core.rollout.replacement`). Both are conditional writes
followed by the same converge as every other writer, so racing an event, a
reconcile run or another operator still ends with every parameter on the
record's desired value.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from attrs import frozen

from amistate.core.rollout import replacement
from amistate.core.state import AmiState, BuildRecord, Rejection
from amistate.core.state_parts import RolloutBasis
from amistate.errors import ContentionError, NoCandidate, RejectRefused
from amistate.ports import StateStore
from amistate.usecases.converge import Converger
from amistate.usecases.records import require

#: A conditional write loses only to another writer's progress; this bounds a storm.
MAX_ATTEMPTS = 8

Action = Literal["promoted", "rejected", "unchanged"]


@frozen
class RolloutChange:
    """What a promote or reject did: the build it acted on, and the live AMI after."""

    preset: str
    action: Action
    build_id: str
    ami_id: str | None  # the home parameter's AMI after the converge
    fell_back_to: str | None = None  # the build that went live instead of a rejected live one


def _now() -> datetime:
    return datetime.now(UTC)


@frozen
class Promotions:
    converger: Converger
    states: StateStore
    clock: Callable[[], datetime] = _now

    def promote(self, preset: str) -> RolloutChange:
        """Make the waiting candidate live; :class:`NoCandidate` when none waits."""
        for _ in range(MAX_ATTEMPTS):
            record = require(self.states, self.converger.settings.table, preset)
            waiting = record.waiting
            if waiting is None:
                raise NoCandidate(f"preset {preset}: no candidate waits; nothing was written")
            after = self.states.promote(preset, waiting)
            if after is not None:
                done = self.converger.converge(preset, after)
                return RolloutChange(preset, "promoted", waiting.build_id, done.ami_id)
        raise ContentionError(f"preset {preset}: {MAX_ATTEMPTS} conflicting writes")

    def reject(
        self, preset: str, target: str | None = None, reason: str | None = None
    ) -> RolloutChange:
        """Reject the build ``target`` names (its ARN or an AMI of it; None: the
        candidate); a rejected build never goes live or waits again."""
        for _ in range(MAX_ATTEMPTS):
            record = require(self.states, self.converger.settings.table, preset)
            build = _chosen(record, target)
            if build.rejection is not None:
                done = self.converger.converge(preset, record)
                return RolloutChange(preset, "unchanged", build.build_id, done.ami_id)
            to = replacement(record, build)
            _refuse(record, build, to)
            rejection = Rejection(self.clock(), reason)
            after = self.states.reject(preset, build.key, rejection, RolloutBasis.of(record), to)
            if after is not None:
                done = self.converger.converge(preset, after)
                fell_back = to.build_id if to is not None else None
                return RolloutChange(preset, "rejected", build.build_id, done.ami_id, fell_back)
        raise ContentionError(f"preset {preset}: {MAX_ATTEMPTS} conflicting writes")


def _chosen(record: AmiState, target: str | None) -> BuildRecord:
    """The ready build ``target`` names (the waiting candidate's when None)."""
    preset = record.preset
    if target is None:
        waiting = record.waiting
        if waiting is None:
            raise NoCandidate(
                f"preset {preset}: no candidate waits; name a build ARN or AMI to reject"
            )
        target = waiting.build_id
    for build in record.history.values():
        ready = build.status == "ready" and build.ami_id is not None
        if ready and target in (build.build_id, *build.amis.ids):
            return build
    raise RejectRefused(
        f"{target[:200]!r} is neither the AMI nor the build ARN of a good build of preset "
        f"{preset} (see `amistate history {preset}`); nothing was written"
    )


def _refuse(record: AmiState, build: BuildRecord, to: BuildRecord | None) -> None:
    """Refuse a rejection that would leave a rejected build live."""
    if record.pin is not None and record.pin.build_id == build.build_id:
        raise RejectRefused(
            f"preset {record.preset} is pinned to {build.build_id}: unpin it (or pin another "
            "build) before rejecting it; nothing was written"
        )
    if build.key == record.ami_key and to is None:
        raise RejectRefused(
            f"preset {record.preset}: {build.build_id} is live and no older good build remains "
            "to fall back to; nothing was written"
        )


__all__ = ["Promotions", "RolloutChange"]
