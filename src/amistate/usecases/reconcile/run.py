"""One reconcile run: read the world, plan, execute (or only show) the plan.

Reads are batched so a run that changes nothing stays cheap: one table scan
(records and histories together), one ``ListImagePipelineImages`` per pipeline
(stopping at builds older than the records), ``GetParameters`` ten names a
call (the plain AMI parameters too, only when a preset names one),
``DescribeImages`` by the hundred, and one listing per region of the AMIs
carrying this deployment's in-use tags (or the legacy one); each target account
listed by a preset in scope is read alike, through its role
(:mod:`amistate.usecases.reconcile.reader`). The
writes go through the same service methods as events and operators, starting
from what the run read (:class:`amistate.usecases.batch.Batch`: no second read of a
record or a parameter) and confirmed together at the end (``BatchGetItem``),
so every write keeps the confirm-after-write guarantee. A preset whose repair
fails is reported and the others carry on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from attrs import field, frozen

from amistate.core import rules
from amistate.core.in_use import InUseKeys
from amistate.core.state import AmiState
from amistate.ports import StateStore
from amistate.ports.inventory import BuildSummary, MachineImages, PipelineImages
from amistate.usecases.batch import Batch
from amistate.usecases.converge import Converger, wants
from amistate.usecases.promotions import Promotions
from amistate.usecases.reconcile.candidates import withdrawn
from amistate.usecases.reconcile.plan import (
    Converge,
    FallBack,
    Feed,
    Instruction,
    Plan,
    Problem,
    Promote,
    Tag,
    Trim,
    Unreachable,
    Untag,
    Withdraw,
    World,
    event_of,
    plan,
)
from amistate.usecases.reconcile.reader import Sight, read_places
from amistate.usecases.reconcile.vocabulary import COUNTS, render
from amistate.usecases.records import records_of, require
from amistate.usecases.service import AmiService


@frozen
class Report:
    """What a run found and did; ``failed`` maps a preset to why its repair failed."""

    plan: Plan
    dry_run: bool
    presets: int
    done: tuple[Instruction, ...] = ()
    failed: Mapping[str, str] = field(factory=dict)
    #: The records as the run read them (before its own writes), by preset.
    records: Mapping[str, AmiState] = field(factory=dict)
    #: The newest record the run knows of each preset: its writes', its confirm's.
    after: Mapping[str, AmiState] = field(factory=dict)

    @property
    def converged(self) -> bool:
        """Nothing left to change: no pending change, no problem, no failure."""
        pending = self.plan.changes if self.dry_run else ()
        return not pending and not self.plan.attention and not self.failed

    def counts(self) -> dict[str, int]:
        """The changes planned (dry run) or made, by their count name (:data:`COUNTS`)."""
        counts = dict.fromkeys(COUNTS.values(), 0)
        for instruction in self.plan.changes if self.dry_run else self.done:
            name = render(instruction).count
            if name is not None:
                counts[name] += 1
        return counts

    def moved(self) -> set[str]:
        """The presets whose AMI this run may have moved (a build fed, a promotion, a fall-back)."""
        return {
            i.preset
            for i in self.plan.changes
            if isinstance(i, Feed | Promote | Withdraw | FallBack) and self.done_by_run(i)
        }

    def done_by_run(self, instruction: Instruction) -> bool:
        """Carried out: by this run, or (a build) by its feed for another preset of the pipeline."""
        if isinstance(instruction, Feed):
            arn = instruction.build.arn
            return any(isinstance(i, Feed) and i.build.arn == arn for i in self.done)
        return instruction in self.done

    def outcome(self, instruction: Instruction) -> dict[str, Any]:
        """After a real run, what became of a change: ``done`` and why not (``failed``)."""
        if self.dry_run or isinstance(instruction, Problem | Unreachable):
            return {}
        done = self.done_by_run(instruction)
        return {"done": done, "failed": None if done else self.failed.get(owner(instruction))}


@frozen
class Reconciler:
    """Converges every preset (or the ones named) on its desired state."""

    service: AmiService  # feeds builds (handle) and falls back (fall_back)
    converger: Converger
    states: StateStore
    pipelines: PipelineImages
    machines: Mapping[str, MachineImages]
    keys: InUseKeys  # the in-use tag keys of this deployment (Settings.in_use_keys)
    history_limit: int = 20

    def read(self, presets: Collection[str] | None = None) -> World:
        return self._read(presets)[0]

    def _read(self, presets: Collection[str] | None) -> tuple[World, Sight]:
        """The world, and what the run read of each place (the parameters' versions
        serve the writes; the accounts it could not read)."""
        settings = self.converger.settings
        chosen = sorted(presets) if presets else ()
        records = {r.preset: r for r in records_of(self.states, settings.table, chosen)}
        builds = self._builds(records.values())
        sight = read_places(self.converger, self.machines, self.keys, records, builds)
        parameters = {key: read.value if read else None for key, read in sight.reads.items()}
        world = World(
            home_region=settings.home_region,
            regions=settings.regions,
            records=records,
            keys=self.keys,
            builds=builds,
            parameters=parameters,
            ami_parameters=sight.ami_parameters,
            images=sight.images,
            tags=sight.tags,
            history_limit=self.history_limit,
            scope=frozenset(presets) if presets else None,
            now=self.converger.clock(),
            accounts=tuple(sight.accounts),
            unreachable=sight.unreachable,
        )
        return world, sight

    def _builds(self, records: Iterable[AmiState]) -> dict[str, tuple[BuildSummary, ...]]:
        """Each pipeline's builds as far back as its presets' records reach.

        Once a record has a good build and a full history, that is the oldest
        of its AMI register and its kept builds: older builds cannot change a
        register and a full history does not take them, so the listing (newest
        first, paginated) stops there. Otherwise the whole listing counts (usually one
        page: lifecycle policies keep pipelines short).
        """
        since: dict[str, datetime | None] = {}
        for record in records:
            pipeline = record.pipeline_arn
            if pipeline is None:
                continue
            # Any success newer than the AMI register may still become the AMI,
            # and any build may still join a history that is not full yet.
            full = bool(record.ami_key) and len(record.history) >= self.history_limit
            start = rules.key_time(min([record.ami_key, *record.history])) if full else None
            if pipeline in since:
                earlier = since[pipeline]
                since[pipeline] = None if earlier is None or start is None else min(earlier, start)
            else:
                since[pipeline] = start
        return {p: tuple(self.pipelines.builds(p, s)) for p, s in sorted(since.items(), key=str)}

    def run(self, presets: Collection[str] | None = None, dry_run: bool = False) -> Report:
        world, sight = self._read(presets)
        found = plan(world)
        failed: dict[str, str] = dict(sight.failed)  # accounts it could not read (transient)
        if dry_run:
            return Report(found, True, len(world.records), failed=failed, records=world.records)
        done: list[Instruction] = []
        fed = _feeders(found.changes)
        feeds = {arn: tuple(sorted(p)) for arn, p in fed.items()}
        reads, unreachable = dict(sight.reads), dict(world.unreachable)
        batch = Batch(feeds, dict(world.records), reads, unreachable=unreachable)
        synced: set[str] = set()
        for owner, instructions in _by_owner(found.changes):
            try:
                for instruction in instructions:
                    if self._execute(instruction, fed, synced, batch):
                        done.append(instruction)
            except Exception as exc:
                failed[owner] = _why(exc)
        after = self._confirm(batch, failed)
        return Report(found, False, len(world.records), tuple(done), failed, world.records, after)

    def _confirm(self, batch: Batch, failed: dict[str, str]) -> dict[str, AmiState]:
        """Confirm the run's writes together: one consistent ``BatchGetItem`` a
        hundred presets. A preset whose record now wants something else than the
        record its write followed converges again (confirming itself). Returns
        the newest record known of every preset: the run's view after."""
        wanted = sorted(batch.unconfirmed)
        try:
            latest = dict(self.states.get_many(wanted)) if wanted else {}
        except Exception as exc:
            failed.update({p: _why(exc) for p in wanted if p not in failed})
            return batch.records
        for preset, record in sorted(batch.unconfirmed.items()):
            now = latest.get(preset)
            if now is not None and wants(now) != wants(record):
                try:
                    self.converger.converge(preset, now)
                except Exception as exc:
                    failed.setdefault(preset, _why(exc))
        return {**batch.records, **latest}

    def _execute(
        self, instruction: Instruction, fed: dict[str, set[str]], synced: set[str], batch: Batch
    ) -> bool:
        """Carry out one instruction; False when an earlier one already did it, or
        (a fallback, a trim) the record changed since the run read it.

        ``fed``: the builds still to feed, each with the presets whose plan
        feeds it (one feed updates all of them; the others of the pipeline need
        nothing from it). ``synced``: presets whose parameters an earlier
        instruction of this run converged (a feed's or a fall-back's write);
        their Converge is done already."""
        if isinstance(instruction, Feed):
            presets = fed.pop(instruction.build.arn, None)
            if presets is None:
                return False
            finished = self.pipelines.finished_at(instruction.build.arn)
            event = event_of(instruction.build, instruction.pipeline_arn, finished)
            for outcome in self.service.handle(event, keep_stale=presets, batch=batch):
                if outcome.preset and outcome.parameter_ami_id is not None:
                    synced.add(outcome.preset)
        elif isinstance(instruction, Promote):
            # The converge promotes a due candidate first (AmiService.advance); a feed's
            # converge may have done it already: False then.
            record = require(self.states, self.converger.settings.table, instruction.preset)
            promoted = self.converger.converge(instruction.preset, record).promoted
            synced.add(instruction.preset)
            return promoted == instruction.candidate.build_id
        elif isinstance(instruction, Withdraw):
            # The operator's reject, by the build's ARN (an already rejected build: False).
            why = withdrawn(instruction.vanished, instruction.state)
            rollouts = Promotions(self.converger, self.states, self.converger.clock)
            change = rollouts.reject(instruction.preset, instruction.candidate.build_id, why)
            if change.action != "rejected":
                return False
            synced.add(instruction.preset)
        elif isinstance(instruction, FallBack):
            # False: the record moved meanwhile (the next run plans again from it).
            preset, vanished, to = instruction.preset, instruction.vanished, instruction.to
            if not self.service.fall_back(preset, vanished, to, batch):
                return False
            synced.add(instruction.preset)
        elif isinstance(instruction, Converge):
            if instruction.preset not in synced:
                record = batch.records[instruction.preset]
                self.converger.converge(instruction.preset, record, batch)
        elif isinstance(instruction, Trim):
            keys, basis = instruction.keys, instruction.basis
            return self.states.forget_builds(instruction.preset, keys, basis)
        elif isinstance(instruction, Tag):
            self._machines(instruction).tag(instruction.ami_ids, instruction.tags)
        elif isinstance(instruction, Untag):
            self._machines(instruction).untag(instruction.ami_ids, instruction.keys)
        else:
            raise TypeError(f"the reconciler cannot carry out {type(instruction).__name__}")
        return True

    def _machines(self, instruction: Tag | Untag) -> MachineImages:
        """The AMIs of the instruction's region (of its target account, through its role)."""
        if instruction.account is None:
            return self.machines[instruction.region]
        accounts = self.converger.accounts
        assert accounts is not None  # the run read the account through them
        found: MachineImages = accounts.machines(instruction.account, instruction.region)
        return found


def _why(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def owner(instruction: Instruction) -> str:
    """What a failure of ``instruction`` is charged to in ``Report.failed``: its
    preset, ``tags in <region>`` for the in-use tags (``tags in <account>/<region>``
    in a target account), ``account <id>`` for an account."""
    if isinstance(instruction, Tag | Untag):
        return f"tags in {instruction.place}"
    if isinstance(instruction, Unreachable):
        return f"account {instruction.account}"
    return instruction.preset


def _feeders(instructions: Iterable[Instruction]) -> dict[str, set[str]]:
    """Each build the plan feeds, with the presets that feed it."""
    presets: dict[str, set[str]] = defaultdict(set)
    for instruction in instructions:
        if isinstance(instruction, Feed):
            presets[instruction.build.arn].add(instruction.preset)
    return dict(presets)


def _by_owner(instructions: Iterable[Instruction]) -> list[tuple[str, list[Instruction]]]:
    """Instructions grouped by :func:`owner`, in plan order."""
    groups: dict[str, list[Instruction]] = defaultdict(list)
    for instruction in instructions:
        groups[owner(instruction)].append(instruction)
    return list(groups.items())


__all__ = ["Reconciler", "Report", "owner"]
