"""What the use cases answer: one event's :class:`Outcome`, one converge's :class:`Converged`."""

from __future__ import annotations

from typing import Literal

from attrs import frozen

from amistate.core.events import BuildEvent

DecisionName = Literal["applied", "applied-ami", "duplicate", "stale", "ignored", "rejected"]


@frozen
class Outcome:
    """What handling one event did: one log line, one CLI line."""

    decision: DecisionName
    preset: str | None = None
    build_id: str | None = None
    status: str | None = None
    ami_id: str | None = None
    parameter_ami_id: str | None = None
    parameter_written: bool = False
    note: str | None = None
    rounds: int = 0  # SSM convergence rounds that wrote
    promoted: str | None = None  # the candidate build its converge made live
    behind: tuple[str, ...] = ()  # target accounts left behind, each with why


@frozen
class Converged:
    """What :meth:`amistate.usecases.converge.Converger.converge` did: the home AMI
    in SSM, whether it wrote, and in how many rounds."""

    ami_id: str | None
    written: bool = False
    rounds: int = 0
    promoted: str | None = None  # the candidate build it promoted first (a due soak)
    #: Target accounts whose parameter could not be brought along, each ``"<account>: why"``
    #: (a denied role; a build without a copy there). The others were converged.
    behind: tuple[str, ...] = ()


def ignored(event: BuildEvent, why: str, decision: DecisionName = "ignored") -> Outcome:
    return Outcome(decision=decision, build_id=event.build.arn, status=event.status, note=why)


__all__ = ["Converged", "DecisionName", "Outcome", "ignored"]
