"""In-memory ports with the same atomic semantics as the AWS adapters.

Used by the tests (the contract suite runs them beside the real adapters) and
by the property tests that interleave concurrent executions step by step.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Mapping
from datetime import datetime

from attrs import evolve

from amistate.core.ami_parameter import AMI_DATA_TYPE, unwritable
from amistate.core.amis import Amis
from amistate.core.builds import TrimBasis
from amistate.core.merge import load_object
from amistate.core.rollout import with_rejection
from amistate.core.rules import Transition
from amistate.core.state import AmiState, BuildRecord, Candidate, Pin, Rejection
from amistate.core.state_parts import RolloutBasis
from amistate.errors import AwsRequestRejected, UnknownBuild
from amistate.ports import (
    STANDARD_TIER_LIMIT,
    Applied,
    ApplyResult,
    ImageFacts,
    Parameter,
    Ports,
    Preset,
    Rejected,
    Written,
)

ADVANCED_THRESHOLD = STANDARD_TIER_LIMIT


class MemoryTable:
    """The DynamoDB table: state records (with co-located config) and mappings."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.records: dict[str, AmiState] = {}
        #: pipeline -> its presets (DynamoDB: the ``presets`` set of the mapping item)
        self.pipelines: dict[str, set[str]] = {}
        #: Presets whose record has a state (not only the config ``register`` wrote).
        self.stated: set[str] = set()


class MemoryStateStore:
    """:class:`amistate.ports.StateStore` over a :class:`MemoryTable`.

    Each method is one atomic step under the table's lock, with exactly the
    conditions the DynamoDB adapter's writes carry.
    """

    def __init__(self, table: MemoryTable | None = None) -> None:
        self.table = table or MemoryTable()

    def apply(self, preset: str, transition: Transition) -> ApplyResult:
        with self.table.lock:
            current = self.table.records.get(preset)
            if not transition.applies_to(current):
                assert current is not None
                return Rejected(current)
            new = transition.apply(current, preset)
            self.table.records[preset] = new
            self.table.stated.add(preset)
            return Applied(new)

    def keep_build(self, preset: str, build: BuildRecord) -> None:
        with self.table.lock:
            current = self.table.records.get(preset)
            if current is None or build.key in current.history:
                return
            history = {**current.history, build.key: build}
            self.table.records[preset] = evolve(current, history=history)

    def forget_builds(self, preset: str, keys: Collection[str], basis: TrimBasis) -> bool:
        with self.table.lock:
            current = self.table.records.get(preset)
            if not keys:
                return True
            if current is None or not basis.holds_for(current):
                return False
            if any(b.rejection is not None for k, b in current.history.items() if k in keys):
                return False
            gone = set(keys)
            history = {k: b for k, b in current.history.items() if k not in gone}
            self.table.records[preset] = evolve(current, history=history)
            return True

    def fall_back(self, preset: str, ami_key: str, to: BuildRecord) -> AmiState | None:
        with self.table.lock:
            current = self.table.records.get(preset)
            if current is None or current.ami_key != ami_key:
                return None
            kept = current.history.get(to.key)
            if kept is not None and kept.rejection is not None:
                return None
            new = _with_register(current, to)
            self.table.records[preset] = new
            return new

    def promote(self, preset: str, candidate: Candidate) -> AmiState | None:
        with self.table.lock:
            current = self.table.records.get(preset)
            if current is None or current.candidate != candidate:
                return None
            if candidate.key <= current.ami_key:
                return None
            new = evolve(current, candidate=None).with_live(
                candidate.build_id, candidate.key, candidate.amis, candidate.completed_at
            )
            self.table.records[preset] = new
            return new

    def reject(
        self,
        preset: str,
        key: str,
        rejection: Rejection,
        basis: RolloutBasis,
        to: BuildRecord | None,
    ) -> AmiState | None:
        with self.table.lock:
            current = self.table.records.get(preset)
            if current is None or key not in current.history or not basis.holds_for(current):
                return None
            new = with_rejection(current, key, rejection)
            if to is not None and current.ami_key == key:
                new = _with_register(new, to)
            self.table.records[preset] = new
            return new

    def set_pin(self, preset: str, pin: Pin | None, expected: str | None) -> AmiState | None:
        with self.table.lock:
            current = self.table.records.get(preset)
            if current is None or (current.pin.build_id if current.pin else None) != expected:
                return None
            if pin is not None and not any(
                b.build_id == pin.build_id and b.good for b in current.history.values()
            ):
                return None
            new = evolve(current, pin=pin)
            self.table.records[preset] = new
            return new

    def set_behind(self, preset: str, behind: Mapping[str, str]) -> None:
        with self.table.lock:
            current = self.table.records.get(preset)
            if current is not None:
                self.table.records[preset] = evolve(current, behind=dict(behind))

    def get(self, preset: str) -> AmiState | None:
        with self.table.lock:
            return self.table.records.get(preset)

    def current(self, preset: str) -> AmiState | None:
        with self.table.lock:
            record = self.table.records.get(preset)
        return None if record is None else evolve(record, history={})

    def get_many(self, presets: Collection[str]) -> Mapping[str, AmiState]:
        with self.table.lock:
            records = self.table.records
            return {p: records[p] for p in dict.fromkeys(presets) if p in records}

    def create_initial(self, preset: str, created_at: datetime) -> bool:
        with self.table.lock:
            # As in DynamoDB: a record holding only the config gets its state; its config stays.
            if preset in self.table.stated:
                return False
            self.table.records.setdefault(preset, AmiState(preset=preset))
            self.table.stated.add(preset)
            return True

    def scan(self) -> Iterator[AmiState]:
        with self.table.lock:
            records = sorted(self.table.records.values(), key=lambda r: r.preset)
        return iter(records)


def _with_register(record: AmiState, to: BuildRecord) -> AmiState:
    """``record`` with ``to``'s build in the AMI register (its key included)."""
    return record.with_live(to.build_id, to.key, to.amis, to.updated_at)


class MemoryPresetCatalog:
    """:class:`amistate.ports.PresetCatalog` over a :class:`MemoryTable`."""

    def __init__(self, table: MemoryTable | None = None) -> None:
        self.table = table or MemoryTable()

    def register(self, preset: Preset, previous_pipeline_arn: str | None = None) -> None:
        with self.table.lock:
            self.table.pipelines.setdefault(preset.pipeline_arn, set()).add(preset.name)
            previous = previous_pipeline_arn
            if previous and previous != preset.pipeline_arn:
                self._remove(preset.name, previous)
            record = self.table.records.get(preset.name) or AmiState(preset=preset.name)
            self.table.records[preset.name] = evolve(
                record,
                config=dict(preset.config),
                pipeline_arn=preset.pipeline_arn,
                retired_keys=tuple(preset.retired_keys),
                ami_parameter=preset.ami_parameter,
                rollout=preset.rollout,
                target_accounts=tuple(preset.target_accounts),
            )

    def unregister(self, preset: str, pipeline_arn: str | None) -> None:
        with self.table.lock:
            if not pipeline_arn:
                return
            self._remove(preset, pipeline_arn)
            record = self.table.records.get(preset)
            if record is not None and record.pipeline_arn == pipeline_arn:
                self.table.records[preset] = evolve(record, pipeline_arn=None)

    def _remove(self, preset: str, pipeline_arn: str) -> None:
        presets = self.table.pipelines.get(pipeline_arn)
        if presets is None:
            return
        presets.discard(preset)
        if not presets:
            del self.table.pipelines[pipeline_arn]

    def presets_for_pipeline(self, pipeline_arn: str) -> tuple[str, ...]:
        with self.table.lock:
            return tuple(sorted(self.table.pipelines.get(pipeline_arn, ())))

    def target_accounts(self, pipeline_arn: str, preset: str) -> tuple[str, ...]:
        with self.table.lock:
            record = self.table.records.get(preset)
            return record.target_accounts if record is not None else ()


#: Parameter Store keeps a parameter's last 100 versions.
KEPT_VERSIONS = 100


class ParameterVersions(dict[str, Parameter]):
    """name -> the parameter now; every assignment makes a new version, as
    ``PutParameter`` does (so tests may seed by assigning), kept in ``history``."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[Parameter]] = {}

    def __setitem__(self, name: str, parameter: Parameter) -> None:
        past = self.history.setdefault(name, [])
        version = (past[-1].version or 0) + 1 if past else 1
        made = evolve(parameter, version=version, tier=parameter.tier or "Standard")
        past.append(made)
        del past[:-KEPT_VERSIONS]
        super().__setitem__(name, made)

    def __delitem__(self, name: str) -> None:
        super().__delitem__(name)
        self.history.pop(name, None)


class MemoryParameterStore:
    """:class:`amistate.ports.ParameterStore` for one region.

    Reads tell a String's tier as ``GetParameter`` does: not at all (None). A
    write that names no tier keeps the parameter's (as moto's server does).
    """

    def __init__(self, region: str = "us-west-2") -> None:
        self.region = region
        self.lock = threading.Lock()
        self.parameters = ParameterVersions()
        self.writes = 0

    def get(self, name: str) -> Parameter | None:
        with self.lock:
            return _as_read(self.parameters.get(name))

    def get_many(self, names: Collection[str]) -> Mapping[str, Parameter | None]:
        with self.lock:
            return {name: _as_read(self.parameters.get(name)) for name in dict.fromkeys(names)}

    def history(self, name: str) -> tuple[Parameter, ...]:
        with self.lock:
            return tuple(self.parameters.history.get(name, []))

    def put(self, name: str, value: str, like: Parameter | None) -> Written:
        load_object(value, f"value for SSM parameter {name}")  # as SsmParameterStore refuses
        with self.lock:
            stored = self.parameters.get(name)
            tier = like.tier if like is not None and like.tier else None
            if len(value.encode()) > ADVANCED_THRESHOLD:
                tier = "Advanced"
            self.parameters[name] = Parameter(
                name=name,
                value=value,
                type=like.type if like else "String",
                key_id=like.key_id if like else None,
                tier=tier or (stored.tier if stored else None),
            )
            self.writes += 1
            made = self.parameters[name]
            assert made.version is not None
            return Written(made.version, made.tier)

    def put_ami(self, name: str, ami_id: str) -> Written:
        with self.lock:
            stored = self.parameters.get(name)
            if stored is not None and unwritable(name, stored.type, stored.data_type):
                # As Parameter Store refuses to change a parameter's data type.
                raise AwsRequestRejected(f"PutParameter {name}: cannot change its data type")
            self.parameters[name] = Parameter(name, ami_id, "String", data_type=AMI_DATA_TYPE)
            self.writes += 1
            made = self.parameters[name]
            assert made.version is not None
            return Written(made.version, made.tier)


def _as_read(parameter: Parameter | None) -> Parameter | None:
    """What a read returns: a String's tier unknown, as from GetParameter."""
    if parameter is None or parameter.type == "SecureString":
        return parameter
    return evolve(parameter, tier=None)


class MemoryImageCatalog:
    """:class:`amistate.ports.ImageCatalog` answering from a dict of builds."""

    def __init__(self, images: Mapping[str, ImageFacts] | None = None) -> None:
        self.images: dict[str, ImageFacts] = dict(images or {})

    def add(
        self,
        build_arn: str,
        pipeline_arn: str,
        amis: Mapping[str, str] | Amis,
        created: datetime | None = None,
        status: str = "AVAILABLE",
    ) -> None:
        facts = amis if isinstance(amis, Amis) else Amis.of(amis)
        self.images[build_arn] = ImageFacts(
            amis=facts, pipeline_arn=pipeline_arn, status=status, created=created
        )

    def describe(self, build_arn: str) -> ImageFacts:
        try:
            return self.images[build_arn]
        except KeyError:
            raise UnknownBuild(f"Image Builder has no image {build_arn}") from None


class MemoryPipelineStarter:
    """:class:`amistate.ports.PipelineStarter`: idempotent per client token."""

    def __init__(self) -> None:
        self.started: dict[str, str] = {}
        self.builds: list[tuple[str, str]] = []

    def start(self, pipeline_arn: str, client_token: str) -> str:
        if client_token in self.started:
            return self.started[client_token]
        n = len(self.builds) + 1
        prefix, _, name = pipeline_arn.partition(":image-pipeline/")
        build_arn = f"{prefix}:image/{name}/1.0.0/{n}"
        self.started[client_token] = build_arn
        self.builds.append((pipeline_arn, build_arn))
        return build_arn


def memory_ports(regions: tuple[str, ...] = ("us-west-2",)) -> Ports:
    """A consistent set of in-memory ports sharing one table (the same type as the AWS wiring)."""
    from amistate_adapters.memory_accounts import MemoryAccounts

    table = MemoryTable()
    return Ports(
        states=MemoryStateStore(table),
        catalog=MemoryPresetCatalog(table),
        images=MemoryImageCatalog(),
        starter=MemoryPipelineStarter(),
        parameters={region: MemoryParameterStore(region) for region in regions},
        accounts=MemoryAccounts(),
    )
