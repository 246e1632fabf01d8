"""A small world for the core tests: one preset, its pipeline, in-memory ports."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from amistate_adapters.memory import (
    MemoryImageCatalog,
    MemoryParameterStore,
    MemoryPresetCatalog,
    MemoryStateStore,
    MemoryTable,
)
from attrs import define, field

from amistate.core import rules
from amistate.core.amis import Amis
from amistate.core.arns import parse_build_arn
from amistate.core.events import BuildEvent
from amistate.core.rules import Transition
from amistate.core.settings import Settings
from amistate.core.state import AmiState
from amistate.ports import Applied, ApplyResult, Parameter, Preset
from amistate.usecases.converge import Converger
from amistate.usecases.service import AmiService

REGION = "us-west-2"
ACCOUNT = "111122223333"
PRESET = "linux-x64"
PIPELINE = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image-pipeline/spot-runner-linux-x64"
PARAMETER = f"/spot-runner/configs/{PRESET}"
CONFIG: Mapping[str, Any] = {
    "instanceTypes": ["c7i.large", "m7i.large"],
    "timeout": 3600,
    "spot": True,
    "labels": {"os": "linux", "arch": "x64"},
    "maxPrice": None,
}
T0 = datetime(2024, 1, 18, 17, 0, 0, tzinfo=UTC)
PREVIOUS_AMI = "ami-0ffffffffffffffff"


def build_arn(build: int, patch: int = 0) -> str:
    return (
        f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-linux-x64/1.0.{patch}/{build}"
    )


def ami_for(build: int, patch: int = 0) -> str:
    return f"ami-{patch:08x}{build:09x}"


def event(
    build: int,
    status: str = "AVAILABLE",
    minute: int = 0,
    origin: str = "eventbridge",
    patch: int = 0,
) -> BuildEvent:
    amis = None
    pipeline = None
    if origin == "sns":
        amis = Amis.of({REGION: ami_for(build, patch)})
        pipeline = PIPELINE
    return BuildEvent(
        build=parse_build_arn(build_arn(build, patch)),
        status=status,
        time=T0 + timedelta(minutes=minute),
        reason="boom" if status == "FAILED" else None,
        amis=amis if status != "FAILED" else None,
        pipeline_arn=pipeline,
        origin="sns" if origin == "sns" else "eventbridge",
        # In these tests a build starts when its event says: the key's time.
        created=T0 + timedelta(minutes=minute),
    )


class HistoryStateStore(MemoryStateStore):
    """Remembers every record a successful write produced, in order."""

    def __init__(self, table: MemoryTable) -> None:
        super().__init__(table)
        self.history: list[AmiState] = []

    def apply(self, preset: str, transition: Transition) -> ApplyResult:
        result = super().apply(preset, transition)
        if isinstance(result, Applied):
            self.history.append(result.record)
        return result


@define
class World:
    table: MemoryTable
    states: HistoryStateStore
    catalog: MemoryPresetCatalog
    images: MemoryImageCatalog
    parameters: MemoryParameterStore
    initial_parameter: str | None
    settings: Settings = field(factory=lambda: Settings(home_region=REGION, account=ACCOUNT))

    def service(self, wrap: Any = None, clock: Callable[[], datetime] | None = None) -> AmiService:
        w = wrap or (lambda name, port: port)
        states = w("states", self.states)
        parameters = {REGION: w(f"parameters[{REGION}]", self.parameters)}
        return AmiService(
            settings=self.settings,
            states=states,
            catalog=w("catalog", self.catalog),
            images=w("images", self.images),
            converger=Converger(
                self.settings, states, parameters, clock or (lambda: datetime.now(UTC))
            ),
        )

    def know(self, *events: BuildEvent) -> None:
        """Image Builder holds each event's build as the event tells it (its status,
        start, pipeline and AMI): the facts ``GetImage`` confirms the event with."""
        for ev in events:
            _, _, patch, build = ev.build.version
            self.images.add(
                ev.build.arn,
                PIPELINE,
                {REGION: ami_for(build, patch)},
                created=ev.created,
                status=ev.status,
            )

    def record(self) -> AmiState:
        record = self.states.get(PRESET)
        assert record is not None
        return record

    def parameter_value(self) -> dict[str, Any] | None:
        parameter = self.parameters.get(PARAMETER)
        return None if parameter is None else json.loads(parameter.value)


def make_world(with_parameter: bool = True, builds: int = 12, patches: int = 2) -> World:
    table = MemoryTable()
    states = HistoryStateStore(table)
    catalog = MemoryPresetCatalog(table)
    catalog.register(Preset(PRESET, PIPELINE, CONFIG))
    states.create_initial(PRESET, T0)
    images = MemoryImageCatalog()
    for build in range(1, builds + 1):
        for patch in range(patches):
            images.add(
                build_arn(build, patch),
                PIPELINE,
                {REGION: ami_for(build, patch)},
                created=T0 + timedelta(minutes=build, seconds=patch),
            )
    parameters = MemoryParameterStore(REGION)
    initial = None
    if with_parameter:
        initial = json.dumps({**CONFIG, "amiId": PREVIOUS_AMI})
        parameters.parameters[PARAMETER] = Parameter(name=PARAMETER, value=initial)
    return World(table, states, catalog, images, parameters, initial)


def expected_record(events: list[BuildEvent], initial_ami: str | None = None) -> dict[str, Any]:
    """What the record must say once every event has been handled, in any order."""
    terminal = [e for e in events if rules.classify(e.status)]
    ready = [e for e in terminal if rules.classify(e.status) == "ready"]
    expected: dict[str, Any] = {"status": "building", "updated_at": None, "build_id": None}
    if terminal:
        newest = max(terminal, key=rules.ordering_key)
        expected = {
            "status": rules.classify(newest.status),
            "updated_at": newest.time,
            "build_id": newest.build.arn,
        }
    expected["ami_id"] = initial_ami
    if ready:
        newest_ready = max(ready, key=rules.ordering_key)
        expected["ami_id"] = ami_for(newest_ready.build.version[3], newest_ready.build.version[2])
    return expected
