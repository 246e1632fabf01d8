"""The ordering rules: every decision about which event wins lives here.

Read this module top to bottom and you know how amistate behaves:

1. **Statuses.** AVAILABLE means ``ready``; FAILED and CANCELLED mean
   ``failed`` (CANCELLED with reason ``"cancelled"``). Every other status
   (PENDING, BUILDING, TESTING, DISTRIBUTING, ...) is ignored: no call, no write.
2. **Ordering key.** Builds are ordered by properties of the build alone, never
   of its delivery: the time the build *started* (Image Builder's
   ``dateCreated``, whole seconds, the precision every path carries: GetImage,
   the SNS notification, the pipeline listing), then the build version
   ``x.y.z/n`` compared numerically, then by outcome (ready after failed). So
   an overlapping build that started later wins whichever finishes first, and
   the same build has the same key whatever path (EventBridge, SNS, SQS, a
   reconcile run) brought it. :func:`ordering_key` renders that as a
   fixed-width string, so DynamoDB can compare it in a ``ConditionExpression``
   exactly as Python compares it here.
3. **Two registers.** The record's *status* (status, updatedAt, buildId,
   reason) follows the event with the greatest key. Its *AMI* (amiId and the
   per-region AMIs) follows the *successful* event with the greatest key, so
   the newest good AMI wins even when a newer failure arrived first, and a
   failure never erases a good AMI. Both are last-writer-wins registers, so the
   end state does not depend on delivery order.
4. **Decision.** An event newer than the status register is applied to both
   registers it concerns; a success older than the status but newer than the
   AMI is applied to the AMI register only, unless the history already holds
   it (only a build a fallback left behind, because an AMI of it vanished, is
   there and newer than the AMI register: a fallback moves the AMI register,
   key included, to an older build); the same event again is a *duplicate*;
   anything else is *stale* and writes nothing to DynamoDB. A build of a
   pipeline the record no longer follows (the preset moved) is *moved*:
   nothing is written, whatever its key (the same conditional write checks the
   record's pipeline, so a stale mapping cache costs no call).
5. **SSM.** Only successes ever lead to an SSM write, and only of the record's
   AMI. After a success is applied, and again when it is redelivered (duplicate
   or stale), the service converges SSM to the record's AMI register: a write
   that happened but whose confirmation was lost is healed by the redelivery.
   Failures never call SSM.
6. **Rollout.** Under a ``manual`` or ``soak`` policy, a success newer than
   the live AMI of a preset that has one goes to the *candidate* register
   instead (:func:`amistate.core.rollout.slot_for`), if newer than the candidate
   waiting there. The condition of every write checks the policy it assumed,
   so a deploy that changes the policy meanwhile makes the write lose and
   :func:`decide` choose again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from attrs import evolve, frozen

from amistate.core.amis import NO_AMIS, Amis
from amistate.core.events import BuildEvent
from amistate.core.rollout import Slot, slot_for
from amistate.core.state import AmiState, BuildRecord, Status
from amistate.errors import NoAmiForRegion

if TYPE_CHECKING:
    from amistate.core.decisions import Apply as Apply
    from amistate.core.decisions import Decision as Decision
    from amistate.core.decisions import Duplicate as Duplicate
    from amistate.core.decisions import Moved as Moved
    from amistate.core.decisions import Stale as Stale

#: Image Builder's terminal statuses and the record status each one means.
TERMINAL_STATUSES: Mapping[str, Status] = {
    "AVAILABLE": "ready",
    "FAILED": "failed",
    "CANCELLED": "failed",
}
CANCELLED_REASON = "cancelled"
_OUTCOME_RANK: Mapping[Status, str] = {"building": "0", "failed": "1", "ready": "2"}


def classify(status: str) -> Status | None:
    """The record status an Image Builder status leads to, or None to ignore it."""
    return TERMINAL_STATUSES.get(status)


def ordering_key(event: BuildEvent) -> str:
    """A fixed-width string whose lexicographic order is the builds' order.

    ``2024-01-18T17:21:03Z#000000001.000000000.000000010/000000001#2``: the
    build's start in UTC to the second, the build version with each part
    zero-padded to nine digits (so ``1.0.10/1`` sorts after ``1.0.9/7``), then
    the outcome. An event whose start is still unknown (EventBridge, before
    GetImage) has no key yet.
    """
    if event.created is None:
        raise ValueError(f"build {event.build.arn}: start time unknown, no ordering key")
    outcome = classify(event.status) or "building"
    x, y, z, n = event.build.version
    t = event.created.astimezone(UTC)
    when = f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}Z"
    return f"{when}#{x:09d}.{y:09d}.{z:09d}/{n:09d}#{_OUTCOME_RANK[outcome]}"


def key_time(key: str) -> datetime | None:
    """The build start a key records (None for :data:`NO_KEY` or a key it cannot read)."""
    try:
        return datetime.strptime(key[:20], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


@frozen
class Transition:
    """One conditional write to a state record: the only way state changes.

    ``register="all"`` applies when the event is newer than the status
    register; ``register="ami"`` (successes only) when it is older than the
    status but newer than the AMI register, and not in the history yet (see
    :func:`decide`). :meth:`applies_to` is the condition; adapters must
    enforce exactly it, atomically. ``pipeline_arn`` (the build's pipeline,
    when known) must be the record's, if it names one. A success's ``slot``
    must be the one the record's policy gives (:func:`amistate.core.rollout.slot_for`);
    a ``candidate`` must be newer than the live AMI and the waiting candidate.
    """

    register: Literal["all", "ami"]
    key: str
    status: Status
    updated_at: datetime
    build_id: str
    reason: str | None = None
    amis: Amis = NO_AMIS  # a success's (with its home AMI); empty for failures
    pipeline_arn: str | None = None
    slot: Slot = "live"

    @property
    def ami_id(self) -> str | None:
        return self.amis.home

    @property
    def sets_ami(self) -> bool:
        return self.amis.home is not None

    def applies_to(self, record: AmiState | None) -> bool:
        if record is None:
            return self.slot == "live"
        if moved(record, self):
            return False
        if self.sets_ami and slot_for(record) != self.slot:
            return False
        if self.sets_ami and self.slot == "candidate" and not _newer_candidate(record, self.key):
            return False
        if self.register == "all":
            return self.key > record.order_key
        return record.ami_key < self.key < record.order_key and self.key not in record.history

    def apply(self, record: AmiState | None, preset: str) -> AmiState:
        """The record after this transition (assumes :meth:`applies_to`)."""
        current = record if record is not None else AmiState(preset=preset)
        changes: dict[str, Any] = {}
        if self.register == "all":
            changes.update(
                status=self.status,
                updated_at=self.updated_at,
                build_id=self.build_id,
                reason=self.reason,
                order_key=self.key,
            )
        if self.sets_ami and self.slot == "candidate":
            from amistate.core.state_parts import Candidate

            changes["candidate"] = Candidate(self.build_id, self.key, self.updated_at, self.amis)
        elif self.sets_ami:
            changes.update(
                amis=self.amis,
                ami_key=self.key,
                ami_build_id=self.build_id,
                ami_updated_at=self.updated_at,
            )
        changes["history"] = {**current.history, self.key: self.entry}
        return evolve(current, **changes)

    @property
    def entry(self) -> BuildRecord:
        """The history entry of this transition's build (the same on every path)."""
        return BuildRecord(
            build_id=self.build_id,
            status=self.status,
            key=self.key,
            updated_at=self.updated_at,
            amis=self.amis,
            reason=self.reason,
        )


def transition_for(event: BuildEvent, amis: Amis = NO_AMIS) -> Transition:
    """The optimistic first attempt: assume the event is the newest."""
    status = classify(event.status)
    if status is None:
        raise ValueError(f"status {event.status} is not terminal")
    reason = CANCELLED_REASON if event.status == "CANCELLED" else event.reason
    return Transition(
        register="all",
        key=ordering_key(event),
        status=status,
        updated_at=event.time.astimezone(UTC),
        build_id=event.build.arn,
        reason=reason,
        amis=amis if status == "ready" else NO_AMIS,
        pipeline_arn=event.pipeline_arn,
    )


def attempt(event: BuildEvent, home: str, regions: tuple[str, ...], whose: str) -> Transition:
    """The optimistic transition a terminal build stands for, keeping the AMIs
    of the regions amistate writes (``regions``; the record's ``amiId`` is
    ``home``'s). A success must have an AMI in each of them: otherwise
    :class:`~amistate.errors.NoAmiForRegion`, naming the build and ``whose``.
    Events and reconcile runs both go through it.
    """
    amis = event.amis or NO_AMIS
    if classify(event.status) == "ready":
        ours = amis.regional()
        for region in regions:
            if region not in ours:
                raise NoAmiForRegion(
                    f"build {event.build.arn} of {whose} has no AMI in region {region} "
                    f"(distributed to: {', '.join(sorted(ours)) or 'none'})"
                )
    return transition_for(event, amis.kept(regions).with_home(home))


def transition_of(build: BuildRecord) -> Transition:
    """The transition a kept build stands for (a preset joining a pipeline
    starts from another preset's build through it)."""
    return Transition(
        register="all",
        key=build.key,
        status=build.status,
        updated_at=build.updated_at,
        build_id=build.build_id,
        reason=build.reason,
        amis=build.amis,
    )


def moved(record: AmiState, attempted: Transition) -> bool:
    """Whether ``attempted`` comes from a pipeline other than the one ``record`` follows."""
    return None not in (record.pipeline_arn, attempted.pipeline_arn) and (
        record.pipeline_arn != attempted.pipeline_arn
    )


def decide(current: AmiState, attempted: Transition) -> Decision:
    """What to do with an event after its write lost against ``current`` (its answers
    live in :mod:`amistate.core.decisions`: a write that wins never needs them)."""
    from amistate.core.decisions import Apply, Duplicate, Moved, Stale

    if moved(current, attempted):
        return Moved(current)
    key = attempted.key
    slot = slot_for(current) if attempted.sets_ami else "live"
    if key > current.order_key:
        return Apply(evolve(attempted, register="all", slot=slot))
    if key == (current.ami_key if attempted.sets_ami else current.order_key):
        return Duplicate(current)
    if attempted.sets_ami and current.candidate is not None and key == current.candidate.key:
        return Duplicate(current)
    between = current.ami_key < key < current.order_key
    # In the history already and newer than the AMI register: a build a
    # fallback left because an AMI of it vanished, a candidate replaced or a
    # rejected build. It stays left.
    if attempted.sets_ami and between and key not in current.history:
        if slot == "candidate" and not _newer_candidate(current, key):
            return Stale(current)  # older than the waiting candidate
        return Apply(evolve(attempted, register="ami", slot=slot))
    return Stale(current)


def _newer_candidate(record: AmiState, key: str) -> bool:
    """Whether a success with ``key`` may become ``record``'s candidate."""
    return key > record.ami_key and (record.candidate is None or key > record.candidate.key)


def syncs_parameter(transition: Transition, record: AmiState) -> bool:
    """Whether handling this event ends by converging SSM to ``record``.

    Successes do, whatever the decision: a redelivered success may be the
    retry of an execution that wrote SSM and crashed before confirming.
    Failures never call SSM; a record with no good AMI yet has nothing to write.
    """
    return transition.sets_ami and record.ami_id is not None


__all__ = [
    "CANCELLED_REASON",
    "TERMINAL_STATUSES",
    "Apply",
    "Decision",
    "Duplicate",
    "Moved",
    "Stale",
    "Transition",
    "attempt",
    "classify",
    "decide",
    "key_time",
    "moved",
    "ordering_key",
    "syncs_parameter",
    "transition_for",
    "transition_of",
]


#: :func:`decide`'s answers, from :mod:`amistate.core.decisions` (imported at first use).
_DECISIONS = frozenset({"Apply", "Decision", "Duplicate", "Moved", "Stale"})


def __getattr__(name: str) -> Any:
    """``Apply``, ``Duplicate``, ``Stale``, ``Moved`` and ``Decision``, from
    :mod:`amistate.core.decisions` (imported on first access)."""
    if name in _DECISIONS:
        from amistate.core import decisions

        found = globals()[name] = getattr(decisions, name)  # later lookups skip this
        return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
