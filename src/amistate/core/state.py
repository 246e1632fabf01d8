"""The AMI state record: one per preset, ``PK=AMI#<preset>``, ``SK=LATEST``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from attrs import evolve, field, frozen

from amistate.core.amis import NO_AMIS, Amis

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
class Rejection:
    """An operator's verdict on a good build: it never goes live or waits as candidate again."""

    at: datetime
    reason: str | None = None


@frozen
class Rollout:
    """A preset's rollout policy, deployed with it: ``immediate`` (a newer good
    build goes live at once), ``manual`` (it waits as candidate for ``amistate
    promote``) or ``soak`` (it waits ``soak`` after its build completed)."""

    policy: Policy = "immediate"
    soak: timedelta | None = None


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
        build = self.pin.build_id if self.pin is not None else self.ami_build_id
        candidate = self.candidate_ami_for(region)
        return RunnerAmi(self.preset, region, ami, build, self.pin, candidate)


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


def newest_first(builds: Iterable[BuildRecord]) -> list[BuildRecord]:
    """History order: the newest build (greatest ordering key) first."""
    return sorted(builds, key=lambda b: b.key, reverse=True)
