"""The AMI state record: one per preset, ``PK=AMI#<preset>``, ``SK=LATEST``.

Its optional parts (a pin, a rejection, a waiting candidate) and what the runners
launch (:class:`RunnerAmi`) live in :mod:`amistate.core.state_parts` and are
importable from here too: they are built at their first use, so an event on an
unpinned ``immediate`` preset (the event Lambda's cold start) never builds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from attrs import evolve, field, frozen

from amistate.core.amis import NO_AMIS, Amis

if TYPE_CHECKING:
    from amistate.core.state_parts import Candidate as Candidate
    from amistate.core.state_parts import Pin as Pin
    from amistate.core.state_parts import Rejection as Rejection
    from amistate.core.state_parts import RunnerAmi as RunnerAmi

Status = Literal["building", "ready", "failed"]
#: How a preset takes a newer good build (:mod:`amistate.core.rollout`).
Policy = Literal["immediate", "manual", "soak"]
POLICIES: tuple[Policy, ...] = ("immediate", "manual", "soak")

#: The ordering key of a record no event has touched yet; every event is newer.
NO_KEY = ""


@frozen
class BuildRecord:
    """One terminal build of a preset, as kept in the record's history.

    A pure function of the build (its ordering key, outcome and AMIs), so
    writing it again, from a redelivery or a reconcile run, changes nothing.
    """

    build_id: str
    status: Status  # "ready" or "failed"
    key: str  # the build's ordering key (amistate.core.rules.ordering_key)
    updated_at: datetime
    amis: Amis = NO_AMIS  # empty for failures
    reason: str | None = None
    rejection: Rejection | None = None  # an operator rejected it: never live or candidate again

    @property
    def ami_id(self) -> str | None:
        """The home AMI (None for failures)."""
        return self.amis.home

    @property
    def good(self) -> bool:
        """A build whose AMI may be used: ready, with an AMI, and not rejected."""
        return self.status == "ready" and self.amis.home is not None and self.rejection is None


@frozen
class Rollout:
    """A preset's rollout policy, deployed with it: ``immediate`` (a newer good
    build goes live at once), ``manual`` (it waits as candidate for ``amistate
    promote``) or ``soak`` (it waits ``soak`` after its build completed)."""

    policy: Policy = "immediate"
    soak: timedelta | None = None


@frozen
class AmiState:
    """What amistate knows about one preset.

    Two last-writer-wins registers live on the record, each with its own
    ordering key (see :mod:`amistate.core.rules`):

    * the *status* register (``status``, ``updated_at``, ``build_id``,
      ``reason``) follows the newest terminal event, keyed by ``order_key``;
    * the *AMI* register (``amis``) follows the newest successful
      event, keyed by ``ami_key``. A failure never clears it: the record keeps
      the last good AMI, exactly as SSM does.

    ``config`` is the preset's configuration, co-located on the record so the
    write that applies an event also returns what the SSM merge needs;
    ``retired_keys`` are the keys earlier configs had (see
    :mod:`amistate.core.desired`). ``ami_build_id``/``ami_updated_at`` name the build
    the AMI register holds (the status register may name a newer failure).
    ``history`` keeps every terminal build by ordering key, written in the same
    conditional write as the transition it came with. ``pin``, when set,
    overrides the AMI register for what the parameters hold. ``ami_parameter``
    names the preset's plain AMI parameter (:mod:`amistate.core.ami_parameter`), a
    deploy's choice co-located like ``config``; None when it has none. ``rollout``
    is the deployed policy; ``candidate`` a newer good build waiting to go live
    under it (it counts only while newer than the AMI register: :attr:`waiting`).
    """

    preset: str
    status: Status = "building"
    updated_at: datetime | None = None
    build_id: str | None = None
    reason: str | None = None
    order_key: str = NO_KEY
    ami_key: str = NO_KEY
    amis: Amis = NO_AMIS
    config: Mapping[str, Any] | None = None
    pipeline_arn: str | None = None
    ami_build_id: str | None = None
    ami_updated_at: datetime | None = None
    retired_keys: tuple[str, ...] = ()
    history: Mapping[str, BuildRecord] = field(factory=dict)
    pin: Pin | None = None
    ami_parameter: str | None = None
    #: Accounts whose parameter holds their own copy of the AMI (``TargetAccounts``).
    target_accounts: tuple[str, ...] = ()
    #: The target accounts the last converge could not bring up to date, each with
    #: why (a denied role, no copy of the live build there); empty once healed.
    behind: Mapping[str, str] = field(factory=dict)
    rollout: Rollout = field(factory=Rollout)
    candidate: Candidate | None = None

    @property
    def waiting(self) -> Candidate | None:
        """The candidate, while it is newer than the live AMI (a fallback or a
        policy change may leave an older one behind: it no longer counts)."""
        if self.candidate is None or self.candidate.key <= self.ami_key:
            return None
        return self.candidate

    def candidate_ami_for(self, region: str, *, account: str | None = None) -> str | None:
        """The waiting candidate's AMI there; None while pinned (a pin holds over all)."""
        waiting = self.waiting
        if waiting is None or self.pin is not None:
            return None
        return waiting.amis.at(region, account)

    @property
    def ami_id(self) -> str | None:
        """The AMI register's home AMI (None before the first good build)."""
        return self.amis.home

    def with_live(self, build_id: str, key: str, amis: Amis, at: datetime) -> AmiState:
        """This record with that build in the AMI register, its ordering key included
        (a promotion, a fallback, a rejected live build's replacement)."""
        return evolve(self, amis=amis, ami_key=key, ami_build_id=build_id, ami_updated_at=at)

    @property
    def live_amis(self) -> Amis:
        """The AMIs the parameters hold: the pin's if pinned, else the AMI register's."""
        return self.pin.amis if self.pin is not None else self.amis

    def ami_for(self, region: str, *, account: str | None = None) -> str | None:
        """The AMI the parameter of ``region`` in ``account`` (None: ours) holds:
        the pin's if pinned, else the newest good one. **The trust rule for
        copies**: an account the preset does not list gets None, whatever
        copies the build made."""
        if account is not None and account not in self.target_accounts:
            return None
        return self.live_amis.at(region, account)

    def latest_ami_for(self, region: str, *, account: str | None = None) -> str | None:
        """The AMI register's AMI there (what the parameter holds once unpinned)."""
        if account is not None and account not in self.target_accounts:
            return None
        return self.amis.at(region, account)

    def builds(self, limit: int | None = None) -> tuple[BuildRecord, ...]:
        """The history, newest first (at most ``limit`` builds)."""
        ordered = newest_first(self.history.values())
        return tuple(ordered if limit is None else ordered[:limit])

    def runner_ami(self, region: str) -> RunnerAmi | None:
        """What the runners of ``region`` launch (the AMI its parameter holds, pin
        included), or None while the preset has no good build for ``region``.

        The one place that says what "the AMI the runners launch" is: a launcher
        reading :func:`amistate.read.runner_ami` gets this, and every writer puts
        the same ``ami_for`` into the parameter. A rollout's waiting candidate
        (:meth:`candidate_ami_for`) is ``candidate_ami_id``.
        """
        ami = self.ami_for(region)
        if ami is None:
            return None
        from amistate.core.state_parts import RunnerAmi

        build = self.pin.build_id if self.pin is not None else self.ami_build_id
        candidate = self.candidate_ami_for(region)
        return RunnerAmi(self.preset, region, ami, build, self.pin, candidate)


def newest_first(builds: Iterable[BuildRecord]) -> list[BuildRecord]:
    """History order: the newest build (greatest ordering key) first."""
    return sorted(builds, key=lambda b: b.key, reverse=True)


#: The record's parts that live in :mod:`amistate.core.state_parts` (imported at first use).
_PARTS = frozenset({"Candidate", "Pin", "Rejection", "RunnerAmi"})


def __getattr__(name: str) -> Any:
    """``Candidate``, ``Pin``, ``Rejection`` and ``RunnerAmi``, from
    :mod:`amistate.core.state_parts` (imported on first access)."""
    if name in _PARTS:
        from amistate.core import state_parts

        found = globals()[name] = getattr(state_parts, name)  # later lookups skip this
        return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
