"""The plain AMI parameter (``AmiParameter``): named, validated, kept by every writer.

In memory, two regions: events, deploys, pins, fall-backs and reconcile runs all
make it hold the live AMI with DataType aws:ec2:image; a preset without one costs
no call; a parameter amistate must not write over is refused before any write.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from amistate_adapters.memory import MemoryParameterStore, memory_ports
from amistate_adapters.memory_inventory import (
    MemoryImage,
    MemoryMachineImages,
    MemoryPipelineImages,
)
from attrs import evolve

from amistate.core.ami_parameter import AMI_DATA_TYPE, validate_name
from amistate.core.amis import Amis
from amistate.core.settings import Settings
from amistate.errors import AwsRequestRejected, InvalidConfig, InvalidProperties
from amistate.ports import Parameter, Ports, Preset
from amistate.ports.inventory import BuildSummary, Inventory
from amistate.usecases.deploy import PresetProperties, PreviousPreset, parse_properties
from amistate.usecases.reconcile.plan import Converge, Problem, event_of
from amistate.wiring.compose import Runtime, from_ports
from tests.core.test_service import Counting

REGION = "us-west-2"
EU = "eu-west-1"
REGIONS = (REGION, EU)
ACCOUNT = "111122223333"
PIPELINE = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image-pipeline/runners"
PRESET = "linux-x64"
NAME = "/spot-runner/amis/linux-x64"
T0 = datetime(2024, 6, 3, 6, 0, tzinfo=UTC)
SETTINGS = Settings(home_region=REGION, account=ACCOUNT, table="t", extra_regions=(EU,))


def ami(n: int, region: str = REGION) -> str:
    return f"ami-{n + (100 if region == EU else 0):017x}"


def summary(n: int) -> BuildSummary:
    return BuildSummary(
        arn=f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/runners/1.0.0/{n}",
        status="AVAILABLE",
        created=T0 + timedelta(minutes=10 * n),
        amis=Amis.of({r: ami(n, r) for r in REGIONS}),
    )


def props(name: str | None = NAME, preset: str = PRESET) -> PresetProperties:
    return PresetProperties(
        preset=preset,
        pipeline_arn=PIPELINE,
        config={"timeout": 3600},
        start_build=False,
        ami_parameter=name,
    )


class World:
    def __init__(self, builds: int = 3) -> None:
        self.stores = {r: MemoryParameterStore(r) for r in REGIONS}
        self.ports: Ports = evolve(memory_ports(REGIONS), parameters=self.stores)
        self.pipelines = MemoryPipelineImages()
        self.pipelines.add_pipeline(PIPELINE)
        self.machines = {r: MemoryMachineImages(r, ACCOUNT) for r in REGIONS}
        for n in range(1, builds + 1):
            for region in REGIONS:
                self.machines[region].images[ami(n, region)] = MemoryImage(owner=ACCOUNT)
        inventory = Inventory(pipelines=self.pipelines, machines=self.machines)
        self.rt: Runtime = from_ports(SETTINGS, self.ports, inventory=inventory)

    def feed(self, n: int) -> None:
        """Build ``n``'s success, as a reconcile run reads it from Image Builder."""
        build = summary(n)
        self.pipelines.add(PIPELINE, build.arn, build.status, build.created, build.amis)
        self.rt.service.handle(event_of(summary(n), PIPELINE))

    def plain(self, region: str = REGION, name: str = NAME) -> Parameter | None:
        return self.ports.parameters[region].get(name)

    def holds(self, n: int, name: str = NAME) -> bool:
        """Both regions' AMI parameter hold build ``n``'s AMI as aws:ec2:image."""
        found = [self.plain(r, name) for r in REGIONS]
        return all(
            p is not None and (p.value, p.type, p.data_type) == (ami(n, r), "String", AMI_DATA_TYPE)
            for p, r in zip(found, REGIONS, strict=True)
        )


# --- the name -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["/spot-runner/amis/linux-x64", "runner-ami", "/a/B_1.c-d"])
def test_parameter_names_ssm_accepts_are_accepted(name: str) -> None:
    assert validate_name(name) == name
    assert parse_properties(_raw(AmiParameter=name)).ami_parameter == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "is not an SSM parameter name"),
        ("spot-runner/amis", "is not an SSM parameter name"),  # a path must start with /
        ("/spot-runner//amis", "is not an SSM parameter name"),
        ("/spot-runner/amis/", "is not an SSM parameter name"),
        ("/amis/linux x64", "is not an SSM parameter name"),
        ("/amis/linux-x64\n", "is not an SSM parameter name"),
        ("/" + "a" * 1011, "is not an SSM parameter name"),
        ("/a" * 16, "more than 15 levels"),
        ("/aws/service/ami", "reserved"),
        ("SSM-ami", "reserved"),
        (7, "expected a parameter name, got int"),
    ],
)
def test_a_bad_name_is_refused_naming_the_field(name: object, why: str) -> None:
    with pytest.raises(InvalidProperties, match=f"^AmiParameter: .*{why}"):
        parse_properties(_raw(AmiParameter=name))
    with pytest.raises(InvalidConfig, match=why):
        validate_name(name)


def test_no_ami_parameter_is_none() -> None:
    assert parse_properties(_raw()).ami_parameter is None


def _raw(**extra: object) -> dict[str, Any]:
    return {"PresetName": PRESET, "PipelineArn": PIPELINE, "Config": "{}", **extra}


# --- deploys ----------------------------------------------------------------------


def test_a_name_among_the_json_parameters_is_refused_before_any_write() -> None:
    world = World()
    bad = "/spot-runner/configs/linux-x64-ami"
    with pytest.raises(InvalidProperties, match=r"^AmiParameter: .*under /spot-runner/configs"):
        world.rt.deployer.create(props(bad), token="t")
    assert world.ports.states.get(PRESET) is None


@pytest.mark.parametrize(
    ("existing", "why"),
    [
        (Parameter(NAME, "ami-0123456789abcdef0"), "a String of DataType text"),
        (Parameter(NAME, "s3cr3t", "SecureString", key_id="k"), "a SecureString"),
    ],
)
def test_a_parameter_amistate_must_not_write_over_fails_the_deploy_and_writes_nothing(
    existing: Parameter, why: str
) -> None:
    world = World()
    world.stores[EU].parameters[NAME] = existing  # in one region only
    with pytest.raises(InvalidProperties, match=f"^AmiParameter: .*{why}.*{EU}"):
        world.rt.deployer.create(props(), token="t")
    assert world.ports.states.get(PRESET) is None
    kept = world.plain(EU)
    assert kept is not None and (kept.value, kept.type) == (existing.value, existing.type)
    assert world.plain(REGION) is None


def test_the_port_refuses_to_change_a_data_type_as_parameter_store_does() -> None:
    store = MemoryParameterStore(REGION)
    store.put(NAME, "{}", like=None)
    with pytest.raises(AwsRequestRejected):
        store.put_ami(NAME, ami(1))


def test_create_then_an_event_then_a_deploy_rename_leaves_the_old_parameter() -> None:
    world = World()
    world.rt.deployer.create(props(), token="t")
    assert world.plain() is None  # no AMI yet: nothing to hold
    world.feed(1)
    assert world.holds(1)
    renamed = "/spot-runner/amis/linux-x64-v2"
    world.rt.deployer.update(props(renamed), PreviousPreset(PRESET, PIPELINE), token="u")
    assert world.holds(1, renamed)  # the deploy's converge wrote it at once
    world.feed(2)
    assert world.holds(2, renamed)
    assert world.holds(1)  # left as it was: amistate deletes no parameter
    world.rt.deployer.update(props(None), PreviousPreset(PRESET, PIPELINE), token="v")
    record = world.ports.states.get(PRESET)
    assert record is not None and record.ami_parameter is None
    world.feed(3)
    assert world.holds(2, renamed)


def test_delete_keeps_the_ami_parameter_like_the_json_parameter() -> None:
    world = World()
    world.rt.deployer.create(props(), token="t")
    world.feed(1)
    world.rt.deployer.delete(PRESET, PreviousPreset(PRESET, PIPELINE), "amistate:linux-x64")
    assert world.holds(1)
    assert world.ports.parameters[REGION].get(f"/spot-runner/configs/{PRESET}") is not None


# --- every writer -------------------------------------------------------------------


def test_pin_unpin_and_rollback_move_it() -> None:
    world = World()
    world.rt.deployer.create(props(), token="t")
    for n in (1, 2, 3):
        world.feed(n)
    assert world.holds(3)
    world.rt.pins.pin(PRESET, ami(1))
    assert world.holds(1)
    world.rt.pins.unpin(PRESET)
    assert world.holds(3)
    world.rt.pins.rollback(PRESET)
    assert world.holds(2)


def test_a_fall_back_from_a_vanished_ami_moves_it() -> None:
    world = World()
    world.rt.deployer.create(props(), token="t")
    for n in (1, 2):
        world.feed(n)
    world.machines[EU].deregister(ami(2, EU))
    report = world.rt.reconciler.run()
    assert report.failed == {}
    assert world.holds(1)


def test_reconcile_shows_and_repairs_drift_and_a_second_run_plans_nothing() -> None:
    world = World()
    world.rt.deployer.create(props(), token="t")
    world.feed(1)
    drifted = Parameter(NAME, ami(9, EU), data_type=AMI_DATA_TYPE)
    world.stores[EU].parameters[NAME] = drifted
    del world.stores[REGION].parameters[NAME]  # deleted
    shown = world.rt.reconciler.run(dry_run=True)
    assert Converge(PRESET, REGIONS, (NAME, f"{NAME} (missing)")) in shown.plan.changes
    assert world.plain() is None  # a dry run writes nothing
    assert world.rt.reconciler.run().failed == {}
    assert world.holds(1)
    assert world.rt.reconciler.run(dry_run=True).plan.changes == ()


def test_reconcile_reports_a_parameter_it_must_not_write_over() -> None:
    world = World()
    world.rt.deployer.create(props(), token="t")
    world.feed(1)
    world.stores[EU].parameters[NAME] = Parameter(NAME, ami(1, EU))  # text now
    problems = world.rt.reconciler.run(dry_run=True).plan.problems
    assert [p.preset for p in problems] == [PRESET]
    assert "a String of DataType text" in problems[0].text and EU in problems[0].text


def test_two_presets_naming_one_parameter_are_a_problem() -> None:
    world = World()
    world.rt.deployer.create(props(), token="t")
    world.rt.deployer.create(props(preset="linux-x64-large"), token="u")
    problems = world.rt.reconciler.run(dry_run=True).plan.problems
    assert Problem(
        PRESET, f"AMI parameter {NAME} is also named by linux-x64-large: name another"
    ) in (problems)
    assert {p.preset for p in problems} == {PRESET, "linux-x64-large"}


def test_a_parameter_broken_meanwhile_fails_the_event_after_the_json_parameters() -> None:
    """The JSON parameters (what the runners read) never wait for the AMI parameter."""
    world = World()
    world.rt.deployer.create(props(), token="t")
    world.feed(1)
    world.stores[REGION].parameters[NAME] = Parameter(NAME, "x")
    with pytest.raises(InvalidConfig, match="a String of DataType text"):
        world.feed(2)
    for region in REGIONS:
        value = world.ports.parameters[region].get(f"/spot-runner/configs/{PRESET}")
        assert value is not None and json.loads(value.value)["amiId"] == ami(2, region)
    assert world.plain() == Parameter(NAME, "x")
    assert world.holds(1, NAME) is False  # EU is written after us-west-2, never reached
    eu = world.plain(EU)
    assert eu is not None and eu.value == ami(1, EU)


def test_a_name_set_while_a_converge_ran_is_written_by_its_confirm_round() -> None:
    """The confirm step compares the AMI parameter's name too (``service._wants``)."""
    world = World()
    world.rt.deployer.create(props(None), token="t")
    world.feed(1)
    old = world.ports.states.get(PRESET)
    assert old is not None
    # A deploy names the parameter meanwhile; the converge started from the old record
    # writes the JSON parameter (deleted meanwhile), confirms, and finds the new name.
    world.ports.catalog.register(Preset(PRESET, PIPELINE, {"timeout": 3600}, (), NAME))
    del world.stores[EU].parameters[f"/spot-runner/configs/{PRESET}"]
    done = world.rt.service.converge(PRESET, old)
    assert done.rounds == 2
    assert world.holds(1)


# --- what it costs -------------------------------------------------------------------


def counted(ports: Ports) -> tuple[Ports, list[str]]:
    """``ports`` whose parameter stores count their calls (``<region>.<method>``)."""
    counter = Counting()
    stores = {r: counter.wrap(r, s) for r, s in ports.parameters.items()}
    return evolve(ports, parameters=stores), counter.calls


@pytest.mark.parametrize("named", [False, True])
def test_an_event_costs_one_read_and_one_write_more_a_region_only_with_an_ami_parameter(
    named: bool,
) -> None:
    world = World()
    world.rt.deployer.create(props(NAME if named else None), token="t")
    world.feed(1)
    ports, calls = counted(world.ports)
    service = from_ports(SETTINGS, ports).service
    service.handle(event_of(summary(2), PIPELINE))
    json_calls = [f"{r}.{m}" for r in REGIONS for m in ("get", "put")]
    ami_calls = [f"{r}.{m}" for r in REGIONS for m in ("get", "put_ami")]
    assert calls == json_calls + (ami_calls if named else [])
    calls.clear()
    service.handle(event_of(summary(2), PIPELINE))  # a redelivery: reads only
    assert calls == [f"{r}.get" for r in REGIONS] * (2 if named else 1)


def test_a_reconcile_run_reads_ami_parameters_only_when_a_preset_names_one() -> None:
    for named, reads in ((False, 2), (True, 4)):
        world = World()
        world.rt.deployer.create(props(NAME if named else None), token="t")
        world.feed(1)
        assert world.rt.reconciler.run().failed == {}  # tags the AMI in use
        ports, calls = counted(world.ports)
        inventory = Inventory(pipelines=world.pipelines, machines=world.machines)
        rt = from_ports(SETTINGS, ports, inventory=inventory)
        assert rt.reconciler.run().plan.changes == ()
        assert calls == [f"{r}.get_many" for r in REGIONS] * (reads // 2)
