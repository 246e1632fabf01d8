"""The use case: run one build event through the ports, and converge SSM.

No rules of its own: :mod:`amistate.core.rules` says which build wins, :mod:`amistate.core.desired`
what a parameter should say. A success costs ``GetImage`` (:mod:`amistate.usecases.verify`;
not for a reconcile run's), the pipeline's presets, then per preset one conditional write and
the convergence loop (read, write if different, confirm). Every writer (deploy, sync, pins,
rollouts, reconcile runs) ends in that loop, which makes them all safe to race.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime

from attrs import evolve, field, frozen

from amistate.core import rules
from amistate.core.amis import Place
from amistate.core.arns import same_owner
from amistate.core.desired import desired_value, same_json, written_by_others
from amistate.core.events import BuildEvent
from amistate.core.merge import dump_object, load_object
from amistate.core.names import parameter_name, state_pk, validate_preset
from amistate.core.settings import Settings
from amistate.core.state import AmiState, BuildRecord
from amistate.errors import (
    AccountUnreachable,
    ContentionError,
    UnknownBuild,
    UnknownBuildStart,
    UnknownPreset,
)
from amistate.ports import (
    Accounts,
    Applied,
    ImageCatalog,
    Parameter,
    ParameterStore,
    PresetCatalog,
    StateStore,
)
from amistate.usecases import ami_parameter, verify
from amistate.usecases.accounts import write_targets
from amistate.usecases.advance import advance
from amistate.usecases.batch import Batch
from amistate.usecases.outcomes import Converged, DecisionName, Outcome, ignored

#: Each rejected write means another writer made progress; this bounds a
#: pathological storm. Exceeding it raises, so Lambda retries the event.
MAX_WRITE_ATTEMPTS = 16
#: Each extra round of the SSM loop means a newer success landed meanwhile.
MAX_CONVERGE_ROUNDS = 16
#: Each rewrite keeping another writer's keys: yet another write landed in between.
MAX_FOREIGN_MERGES = 8


@frozen
class AmiService:
    """One event in, one :class:`Outcome` out; transient errors propagate."""

    settings: Settings
    states: StateStore
    catalog: PresetCatalog
    images: ImageCatalog
    parameters: Mapping[str, ParameterStore] = field()
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # soaks end by it
    accounts: Accounts | None = None  # target accounts (None: none reachable)

    @parameters.validator
    def _has_every_region(self, _: object, value: Mapping[str, ParameterStore]) -> None:
        missing = set(self.settings.regions) - set(value)
        if missing:
            raise ValueError(f"no parameter store for region(s) {sorted(missing)}")

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
        return tuple(self._apply(p, self._trusted(attempted, p), p in keep, batch) for p in presets)

    def _trusted(self, attempted: rules.Transition, preset: str) -> rules.Transition:
        """``attempted`` keeping only the copies of ``preset``'s target accounts."""
        pipeline, amis = attempted.pipeline_arn, attempted.amis
        listed = (
            self.catalog.target_accounts(pipeline, preset) if amis.accounts and pipeline else ()
        )
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
        decision: rules.Decision = rules.Apply(attempted)
        for _ in range(MAX_WRITE_ATTEMPTS):
            if not isinstance(decision, rules.Apply):
                break
            result = self.states.apply(preset, decision.transition)
            if isinstance(result, Applied):
                name: DecisionName = (
                    "applied" if decision.transition.register == "all" else "applied-ami"
                )
                return name, result.record
            decision = rules.decide(result.current, decision.transition)
        else:
            raise ContentionError(f"preset {preset}: {MAX_WRITE_ATTEMPTS} conflicting writes")
        if isinstance(decision, rules.Moved):
            return "ignored", decision.record
        if isinstance(decision, rules.Duplicate):
            return "duplicate", decision.record
        assert isinstance(decision, rules.Stale)
        return "stale", decision.record

    def converge(self, preset: str, record: AmiState, batch: Batch | None = None) -> Converged:
        """Make every region's parameter say what ``record`` wants, then confirm
        ``record`` still wants it.

        SSM has no compare-and-set, so an older writer's value can land after a
        newer one's. Every write is therefore followed by a strongly consistent
        read of the record: if what it wants changed meanwhile (a newer AMI, a
        pin, a Config), go round again. The last writer always confirms after
        writing, so at quiescence SSM equals the record's desired value. A due
        candidate goes live first (:func:`amistate.usecases.advance.advance`).
        With a ``batch``, its reads serve the first round and its caller confirms.
        """
        record, promoted = advance(self.states, preset, record, self.clock())
        if batch is not None:
            batch.records[preset] = record
        for rounds in range(MAX_CONVERGE_ROUNDS):
            home = self.expected_ami(record, self.settings.home_region)
            if home is None:
                return Converged(None, rounds > 0, rounds, promoted)
            wrote = False
            for region in self.settings.regions:
                wrote |= self.write_parameter(Place(region), preset, record, batch)
            wrote |= ami_parameter.keep_all(self.parameters, record)  # after the JSON ones
            targets, behind = write_targets(self, preset, record)
            wrote |= targets
            if wrote and batch is not None:
                batch.unconfirmed[preset] = record
                return Converged(home, True, rounds + 1, promoted, behind)
            if not wrote:
                # SSM already holds what this record wants: no write of ours can
                # land late, so there is nothing to confirm (a newer writer
                # confirms its own write).
                return Converged(home, rounds > 0, rounds, promoted, behind)
            latest = self.states.get(preset)
            if latest is None or wants(latest) == wants(record):
                return Converged(home, True, rounds + 1, promoted, behind)
            record, more = advance(self.states, preset, latest, self.clock())
            promoted = more or promoted
        raise ContentionError(f"preset {preset}: SSM did not settle in {MAX_CONVERGE_ROUNDS}")

    def store(self, place: Place) -> ParameterStore:
        """The parameters of ``place``: ours by region, a target account's through its role."""
        if place.account is None:
            return self.parameters[place.region]
        if self.accounts is None:
            raise AccountUnreachable(place.account, "(none)", "this runtime reaches no account")
        return self.accounts.parameters(place.account, place.region)

    def write_parameter(
        self, place: Place, preset: str, record: AmiState, batch: Batch | None
    ) -> bool:
        """Write ``place``'s parameter if it differs from what ``record`` wants."""
        if record.ami_for(place.region, account=place.account) is None:
            return False
        store = self.store(place)
        name = parameter_name(self.settings.parameter_prefix, preset)
        known, current = batch.take(place.region, preset) if batch is not None else (False, None)
        current = current if known else store.get(name)
        value = self.desired_value(record, place, current.value if current else None)
        if value is None or (current is not None and value == current.value):
            return False
        self._put(place, name, record, current, value)
        return True

    def _put(
        self, place: Place, name: str, record: AmiState, read: Parameter | None, value: str
    ) -> None:
        """Write ``value`` over ``read``, keeping what others wrote in between.

        ``PutParameter`` answers with the version it made; one more than the version
        read means no one wrote in between. Else others' writes landed in between and
        ours replaced them: if one holds a newer state of the keys amistate does not own
        (:func:`amistate.core.desired.written_by_others`, judged by the record as it is
        now: ownership only grows), write what we would have written had we read it.
        """
        store = self.store(place)
        for _ in range(MAX_FOREIGN_MERGES):
            written = store.put(name, value, like=read)
            seen = read.version if read is not None and read.version is not None else 0
            if written.version == seen + 1:
                return
            # Numbered from 1 again if the parameter was deleted meanwhile.
            after = seen if written.version > seen else 0
            before = [v for v in store.history(name) if (v.version or 0) < written.version]
            start = sum(1 for v in before if (v.version or 0) <= after)
            # Read after the history: it owns at least the keys of every amistate
            # write seen there (a deploy records its Config before writing SSM).
            record = self.states.get(record.preset) or record
            theirs = written_by_others(record, [v.value for v in before], start, value)
            kept = self.desired_value(record, place, theirs) if theirs is not None else None
            if kept is None or same_json(load_object(kept, name), load_object(value, name)):
                return
            read = Parameter(
                name,
                value,
                read.type if read is not None else "String",
                read.key_id if read is not None else None,
                written.tier,
                written.version,
            )
            value = kept
        raise ContentionError(f"{name}: {MAX_FOREIGN_MERGES} writes of others in between")

    def desired_value(
        self, record: AmiState, where: str | Place, current: str | None
    ) -> str | None:
        """What ``where``'s parameter (a region of ours, or a place) should hold given its
        ``current`` value (None: no AMI there); InvalidConfig for a non-object current."""
        place = Place(where) if isinstance(where, str) else where
        return desired_value(record, place.region, current, account=place.account)

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
        record = self.states.get(validate_preset(preset))
        if record is None:
            raise UnknownPreset(
                f"unknown preset {preset!r}: table {self.settings.table} has no record "
                f"{state_pk(preset)}"
            )
        return record

    def read_parameters(self, presets: Sequence[str]) -> dict[tuple[str, str], Parameter | None]:
        """Every region's parameter of each preset as it is now, batched."""
        names = {self.parameter_name(p): p for p in presets}
        found: dict[tuple[str, str], Parameter | None] = {}
        for region in self.settings.regions:
            for name, parameter in self.parameters[region].get_many(list(names)).items():
                found[(region, names[name])] = parameter
        return found

    # --- what the operator commands read -----------------------------------------------

    def expected_ami(self, record: AmiState, region: str) -> str | None:
        """The AMI this region's parameter holds when it follows ``record``."""
        return record.ami_for(region)

    def parameter_name(self, preset: str) -> str:
        """The SSM parameter of ``preset`` (the same name in every region)."""
        return parameter_name(self.settings.parameter_prefix, preset)

    def parameter(self, region: str, preset: str) -> Parameter | None:
        """``preset``'s parameter in ``region`` as it is now; None if missing."""
        return self.parameters[region].get(self.parameter_name(preset))

    def record(self, preset: str) -> AmiState | None:
        """``preset``'s state record (strongly consistent); None if it has none."""
        return self.states.get(preset)

    def records(self, presets: Sequence[str] = ()) -> list[AmiState]:
        """The named presets' records (UnknownPreset for a missing one), or every record."""
        if not presets:
            return list(self.scan())
        return [self.require(preset) for preset in dict.fromkeys(presets)]

    def scan(self) -> Iterator[AmiState]:
        """Every state record."""
        return self.states.scan()


def wants(record: AmiState) -> tuple[object, ...]:
    """Everything a record's desired parameter values depend on."""
    config = dump_object(record.config or {})
    wanted = (record.pin, record.amis, config, record.retired_keys, record.ami_parameter)
    return (*wanted, record.waiting, record.rollout, record.target_accounts)


__all__ = ["AmiService", "ContentionError", "Converged", "Outcome", "Settings"]
