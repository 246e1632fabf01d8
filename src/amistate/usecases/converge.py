"""The converger: make a preset's parameters say what its record wants, then confirm.

Every writer (an event, a deploy, ``sync``, pins, rollouts, reconcile runs) ends
in this one loop: a due candidate goes live, each region's parameter (and each
target account's) is written if it differs from the desired value
(:mod:`amistate.core.desired`), the plain AMI parameter is kept, then the record
is re-read (strongly consistent) and the loop goes round again if what it wants
changed meanwhile. SSM has no compare-and-set; the confirm is what makes the
writers safe to race.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from attrs import evolve, field, frozen

from amistate.core.amis import Place
from amistate.core.desired import desired_value, same_json, written_by_others
from amistate.core.merge import dump_object, load_object
from amistate.core.names import parameter_name
from amistate.core.settings import Settings
from amistate.core.state import AmiState
from amistate.errors import AccountUnreachable, ContentionError
from amistate.ports import Accounts, Parameter, ParameterStore, StateStore
from amistate.usecases import ami_parameter
from amistate.usecases.accounts import write_targets
from amistate.usecases.advance import advance
from amistate.usecases.outcomes import Converged

if TYPE_CHECKING:
    from amistate.usecases.batch import Batch

#: Each extra round of the SSM loop means a newer success landed meanwhile.
MAX_CONVERGE_ROUNDS = 16
#: Each rewrite keeping another writer's keys: yet another write landed in between.
MAX_FOREIGN_MERGES = 8


@frozen
class Converger:
    """The write-then-confirm loop over every parameter of a preset."""

    settings: Settings
    states: StateStore
    parameters: Mapping[str, ParameterStore] = field()
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # soaks end by it
    accounts: Accounts | None = None  # target accounts (None: none reachable)

    @parameters.validator
    def _has_every_region(self, _: object, value: Mapping[str, ParameterStore]) -> None:
        missing = set(self.settings.regions) - set(value)
        if missing:
            raise ValueError(f"no parameter store for region(s) {sorted(missing)}")

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
            home = record.ami_for(self.settings.home_region)
            if home is None:
                return Converged(None, rounds > 0, rounds, promoted)
            wrote = False
            for region in self.settings.regions:
                wrote |= self.write_parameter(Place(region), preset, record, batch)
            wrote |= ami_parameter.keep_all(self.parameters, record)  # after the JSON ones
            targets, behind = write_targets(self, preset, record, batch)
            wrote |= targets
            if wrote and batch is not None:
                batch.unconfirmed[preset] = record
                return self._noted(record, behind, Converged(home, True, rounds + 1, promoted))
            if not wrote:
                # SSM already holds what this record wants: no write of ours can
                # land late, so there is nothing to confirm (a newer writer
                # confirms its own write).
                return self._noted(record, behind, Converged(home, rounds > 0, rounds, promoted))
            latest = self.states.current(preset)
            if latest is None or wants(latest) == wants(record):
                return self._noted(record, behind, Converged(home, True, rounds + 1, promoted))
            record, more = advance(self.states, preset, latest, self.clock())
            promoted = more or promoted
        raise ContentionError(f"preset {preset}: SSM did not settle in {MAX_CONVERGE_ROUNDS}")

    def _noted(self, record: AmiState, behind: dict[str, str], done: Converged) -> Converged:
        """``done`` with the accounts left ``behind``, recorded on the record when they
        changed (one ``UpdateItem``; none while they stay the same)."""
        if dict(record.behind) != behind:
            self.states.set_behind(record.preset, behind)
        return evolve(done, behind=tuple(behind.values()))

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
        known, current = batch.take(place, preset) if batch is not None else (False, None)
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
            record = self.states.current(record.preset) or record
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

    def parameter_name(self, preset: str) -> str:
        """The SSM parameter of ``preset`` (the same name in every region)."""
        return parameter_name(self.settings.parameter_prefix, preset)

    def parameter(self, region: str, preset: str, account: str | None = None) -> Parameter | None:
        """``preset``'s parameter in ``region`` (of ``account``: a target's) as it is now;
        None if missing (AccountUnreachable for a denied account)."""
        return self.store(Place(region, account)).get(self.parameter_name(preset))

    def read_parameters(
        self, presets: Sequence[str], account: str | None = None
    ) -> dict[tuple[Place, str], Parameter | None]:
        """Every region's parameter of each preset as it is now, batched (ten names a
        ``GetParameters``), in ``account`` (None: ours; AccountUnreachable if denied)."""
        names = {self.parameter_name(p): p for p in presets}
        found: dict[tuple[Place, str], Parameter | None] = {}
        for region in self.settings.regions:
            place = Place(region, account)
            for name, parameter in self.store(place).get_many(list(names)).items():
                found[(place, names[name])] = parameter
        return found


def wants(record: AmiState) -> tuple[object, ...]:
    """Everything a record's desired parameter values depend on."""
    config = dump_object(record.config or {})
    wanted = (record.pin, record.amis, config, record.retired_keys, record.ami_parameter)
    return (*wanted, record.waiting, record.rollout, record.target_accounts)


__all__ = ["MAX_CONVERGE_ROUNDS", "MAX_FOREIGN_MERGES", "Converger", "wants"]
