"""The reconcile planner's instructions: what a run would do, frozen. Pure values.

:mod:`amistate.usecases.reconcile.plan` plans them from what a run read,
:mod:`amistate.usecases.reconcile.run` carries them out, and
:mod:`amistate.usecases.reconcile.vocabulary` renders each one.
"""

from __future__ import annotations

from attrs import frozen

from amistate.core.amis import Place
from amistate.core.builds import TrimBasis
from amistate.core.state import BuildRecord, Candidate
from amistate.ports.inventory import BuildSummary, ImageState
from amistate.usecases.reconcile.tags import Tag, Untag


@frozen
class Feed:
    """Run a build the record has not seen through the service, as its event."""

    preset: str
    pipeline_arn: str
    build: BuildSummary


@frozen
class Promote:
    """The preset's rollout says its waiting ``candidate`` goes live now."""

    preset: str
    candidate: Candidate


@frozen
class Withdraw:
    """The waiting ``candidate``'s AMI ``vanished`` for good (``state``) in ``place``:
    reject the build, so canary runners stop being told to launch it and it never
    goes live."""

    preset: str
    candidate: Candidate
    vanished: str
    state: ImageState
    place: Place


@frozen
class FallBack:
    """The record's AMI ``vanished``; make ``to`` (an older good build) its AMI."""

    preset: str
    vanished: str
    state: ImageState
    to: BuildRecord


@frozen
class Converge:
    """Write the preset's desired value to the regions whose parameter differs
    (in ``account``: a target account's; None: ours)."""

    preset: str
    regions: tuple[str, ...]
    keys: tuple[str, ...]  # what differs: "amiId", config keys, "missing", an AMI parameter
    account: str | None = None


@frozen
class Trim:
    """Forget builds beyond the history limit (:func:`amistate.core.builds.forgotten`),
    while the record still has ``basis``."""

    preset: str
    keys: tuple[str, ...]
    basis: TrimBasis


@frozen
class Problem:
    """Something no automatic repair may fix; the operator must act."""

    preset: str
    text: str


@frozen
class Unreachable:
    """A target account the run could not read (its role denied): its parameters,
    copies and tags wait for the role to be fixed; the other accounts carry on."""

    account: str
    why: str


Instruction = (
    Feed | Promote | Withdraw | FallBack | Converge | Trim | Tag | Untag | Problem | Unreachable
)


@frozen
class Plan:
    instructions: tuple[Instruction, ...]

    @property
    def changes(self) -> tuple[Instruction, ...]:
        """The instructions that write something."""
        return tuple(i for i in self.instructions if not isinstance(i, Problem | Unreachable))

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(i for i in self.instructions if isinstance(i, Problem))

    @property
    def unreachable(self) -> tuple[Unreachable, ...]:
        """The target accounts the run could not read (an operator must fix their role)."""
        return tuple(i for i in self.instructions if isinstance(i, Unreachable))

    @property
    def attention(self) -> tuple[Problem | Unreachable, ...]:
        """What needs an operator: the presets' problems, then the accounts not read."""
        return (*self.problems, *self.unreachable)


__all__ = [
    "Converge",
    "FallBack",
    "Feed",
    "Instruction",
    "Plan",
    "Problem",
    "Promote",
    "Trim",
    "Unreachable",
    "Withdraw",
]
