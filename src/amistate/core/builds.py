"""Reading a preset's build history, choosing a build to pin, and what the history keeps.

The history and the pin live on the state record (:class:`amistate.core.state.AmiState`);
these are the questions operators and the reconciler ask of them. What a trim
may forget is decided here, once: :func:`protected_keys` (never forgotten) and
:func:`forgotten` (what a trim to the limit removes).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from attrs import frozen

from amistate.core.state import AmiState, BuildRecord, Pin, newest_first

#: How many good AMIs before the one in use stay protected by the in-use tag
#: (the fallbacks a vanished AMI would use); the history keeps their builds too.
PROTECTED_PREVIOUS = 2
_SECONDS_PER_DAY = 86_400.0


def good_builds(builds: Iterable[BuildRecord]) -> list[BuildRecord]:
    """The builds whose AMI could be used, newest first."""
    return [b for b in newest_first(builds) if b.good]


def pin_to(build: BuildRecord, at: datetime, reason: str | None = None) -> Pin:
    """The pin that holds ``build``'s AMIs (a good build only)."""
    if not build.good:
        raise ValueError(f"build {build.build_id} has no good AMI to pin")
    return Pin(build.build_id, build.amis, at, reason)


def find_build(builds: Iterable[BuildRecord], ami_or_build: str) -> BuildRecord | None:
    """The good build that produced an AMI (in any region) or has this build ARN."""
    for build in good_builds(builds):
        if ami_or_build == build.build_id or ami_or_build in build.amis.ids:
            return build
    return None


def previous_good(record: AmiState) -> list[BuildRecord]:
    """The :data:`PROTECTED_PREVIOUS` newest good builds older than the AMI register's:
    the fallbacks a vanished AMI would use, which the in-use tag protects."""
    older = [
        b
        for b in good_builds(record.history.values())
        if b.key < record.ami_key and b.build_id != record.ami_build_id
    ]
    return older[:PROTECTED_PREVIOUS]


def protected_keys(record: AmiState) -> frozenset[str]:
    """The history entries no trim may forget, whatever the limit.

    * the AMI register's build: what every region's parameter holds, or holds
      again once unpinned;
    * the pinned build;
    * the previous good builds (:func:`previous_good`);
    * good builds newer than the AMI register: the ones a fallback left because
      an AMI of theirs vanished (kept so that their late events stay stale,
      :func:`amistate.core.rules.decide`); a newer success releases them;
    * the status register's build (the newest build, what ``status`` shows);
    * the candidate (it may go live) and every rejected build (its rejection
      keeps it from coming back through a redelivery or a reconcile run).
    """
    held = {record.ami_build_id, record.pin.build_id if record.pin else None}
    keys = {record.ami_key, record.order_key, *(b.key for b in previous_good(record))}
    if record.candidate is not None:
        keys.add(record.candidate.key)
    keys |= {key for key, build in record.history.items() if build.rejection is not None}
    keys |= {
        key
        for key, build in record.history.items()
        if build.good and (build.build_id in held or key > record.ami_key)
    }
    return frozenset(keys & set(record.history))


def forgotten(record: AmiState, limit: int) -> tuple[str, ...]:
    """The history keys a trim to ``limit`` entries removes: failures first, then
    good builds, each oldest first, never a :func:`protected_keys` one (so the
    history may stay above the limit). Empty when it fits."""
    excess = len(record.history) - limit
    if excess <= 0:
        return ()
    keep = protected_keys(record)
    candidates = [b for b in record.history.values() if b.key not in keep]
    candidates.sort(key=lambda b: (b.good, b.key))
    return tuple(b.key for b in candidates[:excess])


@frozen
class TrimBasis:
    """What a trim's choice rested on: the AMI register's key and the pin.

    The store forgets builds only while the record still has both, so a pin, a
    rollback, a fallback or a new build that lands meanwhile (and may need a
    build the trim chose) wins; the next run trims again from the new record.
    """

    ami_key: str
    pin_build_id: str | None = None

    @classmethod
    def of(cls, record: AmiState) -> TrimBasis:
        return cls(record.ami_key, record.pin.build_id if record.pin else None)

    def holds_for(self, record: AmiState) -> bool:
        return self == TrimBasis.of(record)


def ami_finished(record: AmiState) -> datetime | None:
    """When the build of the AMI the home parameter should hold finished.

    Pinned: the pinned build's entry in the history (None once trimmed away);
    otherwise the AMI register's ``ami_updated_at``. None without an AMI.
    """
    pin = record.pin
    if pin is not None:
        for entry in record.history.values():
            if entry.build_id == pin.build_id:
                return entry.updated_at
        return None
    return None if record.ami_id is None else record.ami_updated_at


def ami_age_days(record: AmiState, now: datetime) -> float | None:
    """Days since :func:`ami_finished` at ``now`` (never negative); None without one."""
    finished = ami_finished(record)
    if finished is None:
        return None
    return max(0.0, (now - finished).total_seconds() / _SECONDS_PER_DAY)


__all__ = [
    "PROTECTED_PREVIOUS",
    "TrimBasis",
    "ami_age_days",
    "ami_finished",
    "find_build",
    "forgotten",
    "good_builds",
    "pin_to",
    "previous_good",
    "protected_keys",
]
