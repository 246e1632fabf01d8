"""The use case: run one build event through the ports, and converge SSM.

No rules of its own: :mod:`amistate.core.rules` says which build wins, :mod:`amistate.core.desired`
what a parameter should say. A success costs ``GetImage`` (:mod:`amistate.usecases.verify`;
not for a reconcile run's), the pipeline's presets, then per preset one conditional write and
the convergence loop (:class:`amistate.usecases.converge.Converger`: read, write if different,
confirm), which every writer ends in.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import TYPE_CHECKING

from attrs import evolve, frozen

from amistate.core import rules
from amistate.core.arns import same_owner
from amistate.core.events import BuildEvent
from amistate.core.settings import Settings
from amistate.core.state import AmiState, BuildRecord
from amistate.errors import ContentionError, UnknownBuild, UnknownBuildStart
from amistate.ports import (
    Applied,
    ImageCatalog,
    PresetCatalog,
    StateStore,
)
from amistate.usecases import verify
from amistate.usecases.converge import Converger
from amistate.usecases.outcomes import Converged, DecisionName, Outcome, ignored
from amistate.usecases.records import records_of, require

if TYPE_CHECKING:
    from amistate.usecases.batch import Batch

#: Each rejected write means another writer made progress; this bounds a
#: pathological storm. Exceeding it raises, so Lambda retries the event.
MAX_WRITE_ATTEMPTS = 16


@frozen
class AmiService:
    """One event in, one :class:`Outcome` out; transient errors propagate."""

    settings: Settings
    states: StateStore
    catalog: PresetCatalog
    images: ImageCatalog
    converger: Converger  # the write-then-confirm loop every outcome ends in

    def handle(
        self,
        event: BuildEvent,
        *,
        keep_stale: bool | Collection[str] = False,
        batch: Batch | None = None,
    ) -> tuple[Outcome, ...]:
        """One outcome per preset the build's pipeline feeds (one ``ignored`` if none).

        An applied build joins the history in the same write. A *stale* build
        (older than the record, arriving late), or a duplicate the history
        lacks (a record older than the history), joins it only with
        ``keep_stale`` (True: for every preset; else the presets named): the
        reconcile run names the presets whose history keeps it, so the event
        path keeps its call budget and the history is complete after the run.
        """
        status = rules.classify(event.status)
        if status is None:
            return (ignored(event, f"non-terminal status {event.status}"),)
        foreign = self.settings.foreign(event.build.partition, event.build.region, event.account)
        if foreign is not None:
            return (ignored(event, f"event of {foreign}"),)
        if event.pipeline_arn is not None and not same_owner(event.pipeline_arn, event.build):
            return (ignored(event, f"pipeline {event.pipeline_arn} is not the build's account"),)

        checked = self._verified(event)
        if isinstance(checked, Outcome):
            return (checked,)
        event = checked
        pipeline_arn = event.pipeline_arn
        presets = batch.feeds.get(event.build.arn) if batch is not None else None
        if presets is None:
            presets = self.catalog.presets_for_pipeline(pipeline_arn) if pipeline_arn else ()
        if not presets:
            return (ignored(event, f"pipeline {pipeline_arn} is not mapped to a preset"),)
        settings = self.settings
        whose = f"preset {', '.join(presets)}"
        attempted = rules.attempt(event, settings.home_region, settings.regions, whose)
        keep = set(presets) if keep_stale is True else set(keep_stale or ())
        return tuple(
            self._apply(p, self._trusted(attempted, p, batch), p in keep, batch) for p in presets
        )

    def _trusted(
        self, attempted: rules.Transition, preset: str, batch: Batch | None
    ) -> rules.Transition:
        """``attempted`` keeping only the copies of ``preset``'s target accounts: those of
        the record a batch's caller read (a reconcile run, as its plan does), else the
        pipeline mapping's (cached with the presets an event reads from it)."""
        pipeline, amis = attempted.pipeline_arn, attempted.amis
        read = batch.records.get(preset) if batch is not None else None
        if read is not None:
            listed = read.target_accounts
        elif amis.accounts and pipeline:
            listed = self.catalog.target_accounts(pipeline, preset)
        else:
            listed = ()
        return evolve(attempted, amis=amis.trusted(listed))

    def _verified(self, event: BuildEvent) -> BuildEvent | Outcome:
        """The event with Image Builder's facts (``GetImage``: pipeline, AMIs, start),
        or a ``rejected`` outcome when Image Builder does not know the build or
        contradicts a claim of the event (:mod:`amistate.usecases.verify`); nothing is written then.

        A reconcile run's event is built from Image Builder's own listing: kept as is.
        """
        if event.origin == "reconcile":
            return event
        try:
            facts = self.images.describe(event.build.arn)
        except UnknownBuild:
            return ignored(event, "arn: Image Builder has no such image (GetImage)", "rejected")
        why = verify.disagreement(event, facts)
        if why is not None:
            return ignored(event, why, "rejected")
        if facts.created is None:
            raise UnknownBuildStart(
                f"build {event.build.arn}: GetImage gives no dateCreated, so it cannot be ordered"
            )
        return verify.confirmed(event, facts)

    def _apply(
        self, preset: str, attempted: rules.Transition, keep: bool, batch: Batch | None
    ) -> Outcome:
        decision, record = self._write(preset, attempted)
        if decision == "ignored":  # moved: the mapping this process cached is out of date
            return Outcome(
                decision="ignored",
                preset=preset,
                build_id=attempted.build_id,
                status=attempted.status,
                ami_id=record.ami_id,
                note=f"preset {preset} follows pipeline {record.pipeline_arn} now",
            )
        kept = decision in ("stale", "duplicate") and attempted.key not in record.history
        if keep and kept:
            self.states.keep_build(preset, attempted.entry)
        outcome = Outcome(
            decision=decision,
            preset=preset,
            build_id=attempted.build_id,
            status=attempted.status,
            ami_id=record.ami_id,
        )
        if rules.syncs_parameter(attempted, record):
            done = self.converge(preset, record, batch)
            outcome = evolve(
                outcome,
                parameter_ami_id=done.ami_id,
                parameter_written=done.written,
                rounds=done.rounds,
                promoted=done.promoted,
                behind=done.behind,
            )
        return outcome

    def _write(self, preset: str, attempted: rules.Transition) -> tuple[DecisionName, AmiState]:
        # The first attempt is the optimistic one; rules.decide (and its answers) only
        # after a write lost.
        decision: rules.Decision | None = None
        transition = attempted
        for _ in range(MAX_WRITE_ATTEMPTS):
            if decision is not None:
                if not isinstance(decision, rules.Apply):
                    break
                transition = decision.transition
            result = self.states.apply(preset, transition)
            if isinstance(result, Applied):
                name: DecisionName = "applied" if transition.register == "all" else "applied-ami"
                return name, result.record
            decision = rules.decide(result.current, transition)
        else:
            raise ContentionError(f"preset {preset}: {MAX_WRITE_ATTEMPTS} conflicting writes")
        if isinstance(decision, rules.Moved):
            return "ignored", decision.record
        if isinstance(decision, rules.Duplicate):
            return "duplicate", decision.record
        assert isinstance(decision, rules.Stale)
        return "stale", decision.record

    def converge(self, preset: str, record: AmiState, batch: Batch | None = None) -> Converged:
        """Converge ``preset``'s parameters on ``record`` (:class:`Converger`)."""
        return self.converger.converge(preset, record, batch)

    def adopt(self, preset: str, build: BuildRecord) -> DecisionName:
        """Apply a build another preset of the same pipeline already recorded."""
        decision, record = self._write(preset, rules.transition_of(build))
        self.converge(preset, record)
        return decision

    def fall_back(
        self, preset: str, vanished: str, to: BuildRecord, batch: Batch | None = None
    ) -> bool:
        """Replace a vanished AMI (of any region) by ``to``'s if the record still
        holds it; then converge.

        The AMI register takes ``to``'s ordering key too, so a success that
        started between ``to`` and the vanished build is still applied when it
        arrives. Conditional on the register being unchanged, so a newer build
        that landed meanwhile is never replaced by an older one.
        """
        record = (batch.records.get(preset) if batch else None) or self.require(preset)
        if vanished not in record.amis.ids or to.key == record.ami_key:
            return False
        after = self.states.fall_back(preset, record.ami_key, to)
        if after is None:
            return False
        self.converge(preset, after, batch)
        return True

    def sync(self, preset: str) -> Converged:
        """Converge ``preset``'s parameters on its record as it is now."""
        return self.converge(preset, self.require(preset))

    def require(self, preset: str) -> AmiState:
        """``preset``'s record, or UnknownPreset naming the table and key."""
        return require(self.states, self.settings.table, preset)

    # --- what the operator commands read -----------------------------------------------

    def record(self, preset: str) -> AmiState | None:
        """``preset``'s state record (strongly consistent); None if it has none."""
        return self.states.get(preset)

    def records(self, presets: Sequence[str] = ()) -> list[AmiState]:
        """The named presets' records (UnknownPreset for a missing one), or every record."""
        return records_of(self.states, self.settings.table, presets)

    def scan(self) -> Iterator[AmiState]:
        """Every state record."""
        return self.states.scan()


__all__ = ["AmiService", "ContentionError", "Converged", "Outcome", "Settings"]
