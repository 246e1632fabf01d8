"""A Create through the custom resource reads its preset's record once and checks its
pipeline once (issue 23): counts of ``StateStore.get`` calls (one ``GetItem`` each) and
of the trust rule's checks, over in-memory ports."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest
from amistate_adapters.memory import (
    MemoryImageCatalog,
    MemoryParameterStore,
    MemoryPipelineStarter,
    MemoryPresetCatalog,
    MemoryStateStore,
    MemoryTable,
)

from amistate.core.settings import Settings
from amistate.core.state import AmiState
from amistate.ports import Ports
from amistate.shims import custom_resource, runtime
from amistate.testing import LambdaContext
from amistate.usecases.deploy.deployer import Admitted, PresetDeployer
from amistate.usecases.deploy.properties import PresetProperties
from amistate.wiring.compose import from_ports

REGION, ACCOUNT = "us-west-2", "111122223333"
PIPELINE = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image-pipeline/spot-runner-linux-x64"


class CountingStates(MemoryStateStore):
    """The in-memory store, counting the consistent reads of each record."""

    def __init__(self, table: MemoryTable) -> None:
        super().__init__(table)
        self.reads: Counter[str] = Counter()

    def get(self, preset: str) -> AmiState | None:
        self.reads[preset] += 1
        return super().get(preset)

    def current(self, preset: str) -> AmiState | None:
        self.reads[preset] += 1
        return super().current(preset)


@pytest.fixture
def states() -> Iterator[CountingStates]:
    table = MemoryTable()
    counting = CountingStates(table)
    ports = Ports(
        states=counting,
        catalog=MemoryPresetCatalog(table),
        images=MemoryImageCatalog(),
        starter=MemoryPipelineStarter(),
        parameters={REGION: MemoryParameterStore(REGION)},
    )
    runtime.configure(from_ports(Settings(home_region=REGION, account=ACCOUNT), ports))
    try:
        yield counting
    finally:
        runtime.reset()


def create(preset: str) -> None:
    props = {"PresetName": preset, "PipelineArn": PIPELINE, "Config": json.dumps({"a": 1})}
    event = {"RequestType": "Create", "RequestId": f"r-{preset}", "ResourceProperties": props}
    custom_resource.on_event(event, LambdaContext())


def test_a_create_reads_its_record_once(states: CountingStates) -> None:
    create("linux-x64")
    assert states.reads["linux-x64"] == 1  # after registering: what the converge starts from


def test_a_create_over_an_existing_record_reads_it_twice(states: CountingStates) -> None:
    create("linux-x64")
    states.reads.clear()
    create("linux-x64")  # the record stays: its Config is read for the keys it retires
    assert states.reads["linux-x64"] == 2


@pytest.mark.parametrize("kind", ["Create", "Update"])
def test_a_deploy_checks_its_properties_once(
    states: CountingStates, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = PresetDeployer.admit

    def counting(self: PresetDeployer, props: PresetProperties) -> Admitted:
        checked.append(props.preset)
        return real(self, props)

    monkeypatch.setattr(PresetDeployer, "admit", counting)
    props = {"PresetName": "linux-x64", "PipelineArn": PIPELINE, "Config": json.dumps({"a": 1})}
    event = {"RequestType": kind, "RequestId": "r", "ResourceProperties": props}
    if kind == "Update":
        event |= {"PhysicalResourceId": "linux-x64", "OldResourceProperties": props}
    custom_resource.on_event(event, LambdaContext())
    assert checked == ["linux-x64"]  # the shim's check; create and update take it as made
