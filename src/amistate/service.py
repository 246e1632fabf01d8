"""The use case: run one build event through the ports.

The service holds no rules of its own; it asks :mod:`amistate.rules` and
carries out the answer. Call order for a success (the expensive case):
``GetImage`` (only when the event lacks AMIs), pipeline -> preset lookup,
one conditional state write, then the SSM convergence loop (read, write if
different, confirm against the state store).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Literal

from attrs import evolve, field, frozen

from amistate import rules
from amistate.arns import same_owner
from amistate.errors import ContentionError, NoAmiForRegion, UnknownPreset
from amistate.events import BuildEvent
from amistate.merge import merge_parameter
from amistate.names import parameter_name, state_pk, validate_preset
from amistate.ports import (
    Applied,
    ImageCatalog,
    Parameter,
    ParameterStore,
    PresetCatalog,
    StateStore,
)
from amistate.settings import Settings
from amistate.state import AmiState

DecisionName = Literal["applied", "applied-ami", "duplicate", "stale", "ignored"]

#: Each rejected write means another writer made progress; this bounds a
#: pathological storm. Exceeding it raises, so Lambda retries the event.
MAX_WRITE_ATTEMPTS = 16
#: Each extra round of the SSM loop means a newer success landed meanwhile.
MAX_CONVERGE_ROUNDS = 16


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


@frozen
class AmiService:
    """One event in, one :class:`Outcome` out; transient errors propagate."""

    settings: Settings
    states: StateStore
    catalog: PresetCatalog
    images: ImageCatalog
    parameters: Mapping[str, ParameterStore] = field()

    @parameters.validator
    def _has_every_region(self, _: object, value: Mapping[str, ParameterStore]) -> None:
        missing = set(self.settings.regions) - set(value)
        if missing:
            raise ValueError(f"no parameter store for region(s) {sorted(missing)}")

    def handle(self, event: BuildEvent) -> Outcome:
        status = rules.classify(event.status)
        build_id = event.build.arn
        if status is None:
            return _ignored(event, f"non-terminal status {event.status}")
        foreign = self.settings.foreign(event.build.partition, event.build.region, event.account)
        if foreign is not None:
            return _ignored(event, f"event of {foreign}")
        if event.pipeline_arn is not None and not same_owner(event.pipeline_arn, event.build):
            return _ignored(event, f"pipeline {event.pipeline_arn} is not the build's account")

        amis, pipeline_arn = event.amis, event.pipeline_arn
        if pipeline_arn is None or (status == "ready" and amis is None):
            facts = self.images.describe(build_id)
            amis = amis if amis is not None else facts.amis
            pipeline_arn = pipeline_arn or facts.pipeline_arn
        preset = self.catalog.preset_for_pipeline(pipeline_arn) if pipeline_arn else None
        if preset is None:
            return _ignored(event, f"pipeline {pipeline_arn} is not mapped to a preset")

        by_region = {ami.region: ami.ami_id for ami in amis or ()}
        if status == "ready":
            self._check_regions(preset, build_id, by_region)
        attempted = rules.transition_for(
            event, by_region.get(self.settings.home_region), self._kept(by_region)
        )
        decision, record = self._write(preset, attempted)

        outcome = Outcome(
            decision=decision,
            preset=preset,
            build_id=build_id,
            status=status,
            ami_id=record.ami_id,
        )
        if rules.syncs_parameter(attempted, record):
            ami, written = self.converge(preset, record)
            outcome = _with_parameter(outcome, ami, written)
        return outcome

    def _check_regions(self, preset: str, build_id: str, by_region: Mapping[str, str]) -> None:
        for region in self.settings.regions:
            if region not in by_region:
                raise NoAmiForRegion(
                    f"build {build_id} of preset {preset} has no AMI in region {region} "
                    f"(distributed to: {', '.join(sorted(by_region)) or 'none'})"
                )

    def _kept(self, by_region: Mapping[str, str]) -> dict[str, str]:
        wanted = self.settings.regions
        return {region: ami for region, ami in by_region.items() if region in wanted}

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
        if isinstance(decision, rules.Duplicate):
            return "duplicate", decision.record
        assert isinstance(decision, rules.Stale)
        return "stale", decision.record

    def converge(self, preset: str, record: AmiState) -> tuple[str | None, bool]:
        """Make SSM say ``record``'s AMI, then confirm ``record`` is still the newest.

        SSM has no compare-and-set, so an older execution's write can land
        after a newer one's. Every write is therefore followed by a strongly
        consistent read of the record: if a newer AMI won meanwhile, go round
        again with it. The last writer always confirms after writing, so at
        quiescence SSM equals the record. Returns (home AMI in SSM, wrote?).
        """
        written = False
        for _ in range(MAX_CONVERGE_ROUNDS):
            if record.ami_id is None:
                return None, written
            wrote = False
            for region in self.settings.regions:
                wrote |= self._write_parameter(region, preset, record)
            written |= wrote
            if not wrote:
                # SSM already holds this record's AMI: no write of ours can land
                # late, so there is nothing to confirm (a newer writer confirms
                # its own write).
                return record.ami_id, written
            latest = self.states.get(preset)
            if latest is None or latest.ami_key == record.ami_key:
                return record.ami_id, written
            record = latest
        raise ContentionError(f"preset {preset}: SSM did not settle in {MAX_CONVERGE_ROUNDS}")

    def _write_parameter(self, region: str, preset: str, record: AmiState) -> bool:
        ami = self.expected_ami(record, region)
        if ami is None:
            return False
        store = self.parameters[region]
        name = parameter_name(self.settings.parameter_prefix, preset)
        current = store.get(name)
        value = merge_parameter(current.value if current else None, record.config, ami)
        if current is not None and value == current.value:
            return False
        store.put(name, value, like=current)
        return True

    # --- what the operator commands read -----------------------------------------------

    def expected_ami(self, record: AmiState, region: str) -> str | None:
        """The AMI this region's parameter holds when it follows ``record``."""
        return record.ami_for(region, self.settings.home_region)

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
        found: list[AmiState] = []
        for preset in dict.fromkeys(presets):
            record = self.states.get(validate_preset(preset))
            if record is None:
                raise UnknownPreset(
                    f"unknown preset {preset!r}: table {self.settings.table} has no record "
                    f"{state_pk(preset)}"
                )
            found.append(record)
        return found

    def scan(self) -> Iterator[AmiState]:
        """Every state record."""
        return self.states.scan()


def _ignored(event: BuildEvent, why: str) -> Outcome:
    return Outcome(decision="ignored", build_id=event.build.arn, status=event.status, note=why)


def _with_parameter(outcome: Outcome, ami: str | None, written: bool) -> Outcome:
    return evolve(outcome, parameter_ami_id=ami, parameter_written=written)


__all__ = ["AmiService", "ContentionError", "Outcome", "Settings"]
