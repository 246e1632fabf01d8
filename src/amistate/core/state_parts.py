"""The state record's optional parts, and what the runners launch.

A pin and a rejection (an operator's decisions, and :class:`RolloutBasis`, what a
rejection's choice rested on), a candidate waiting under a ``manual`` or ``soak``
rollout, and :class:`RunnerAmi` (the reader's answer).
:mod:`amistate.core.state` re-exports them; they live here so that an event on
an unpinned ``immediate`` preset, the event Lambda's cold start, never builds
them (tests/shims/test_cold_start.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from attrs import frozen

from amistate.core.amis import Amis

if TYPE_CHECKING:
    from amistate.core.state import AmiState


@frozen
class Rejection:
    """An operator's verdict on a good build: it never goes live or waits as candidate again."""

    at: datetime
    reason: str | None = None


@frozen
class Candidate:
    """A newer good build waiting to go live (``manual`` and ``soak`` presets).

    ``completed_at`` is when its build completed (the build's time, never the
    delivery's): a soak counts from it.
    """

    build_id: str
    key: str  # the build's ordering key
    completed_at: datetime
    amis: Amis

    @property
    def ami_id(self) -> str | None:
        """The candidate's home AMI."""
        return self.amis.home


@frozen
class Pin:
    """An operator's decision: every region's parameter holds this build's AMIs."""

    build_id: str
    amis: Amis
    pinned_at: datetime | None = None
    reason: str | None = None

    @property
    def ami_id(self) -> str | None:
        """The pinned build's home AMI."""
        return self.amis.home


@frozen
class RunnerAmi:
    """The AMI a preset's runners launch in one region, and why.

    ``ami_id`` is the live AMI: the pinned build's while ``pin`` is set (a pin
    or a rollback), else the newest good build's; ``build_id`` is the build
    that produced it. ``candidate_ami_id`` is the AMI a rollout is trying on
    some runners (the parameter's ``candidateAmiId``), None when no candidate waits.
    """

    preset: str
    region: str
    ami_id: str
    build_id: str | None
    pin: Pin | None = None
    candidate_ami_id: str | None = None


@frozen
class RolloutBasis:
    """What a rejection's choice rested on: the AMI register's key, the
    candidate's and the pin's build. The store rejects only while the record
    still has all three, so a racing promotion, build, pin or fallback wins and
    the rejection is decided again from the new record."""

    ami_key: str
    candidate_key: str | None = None
    pin_build_id: str | None = None

    @classmethod
    def of(cls, record: AmiState) -> RolloutBasis:
        candidate = record.candidate.key if record.candidate is not None else None
        pin = record.pin.build_id if record.pin is not None else None
        return cls(record.ami_key, candidate, pin)

    def holds_for(self, record: AmiState) -> bool:
        return self == RolloutBasis.of(record)


__all__ = ["Candidate", "Pin", "Rejection", "RolloutBasis", "RunnerAmi"]
