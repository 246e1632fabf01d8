"""PresetCatalog contract: config on the record, pipeline -> preset mapping."""

from __future__ import annotations

from datetime import UTC, datetime

from attrs import evolve

from amistate.core.state import AmiState
from amistate.ports import Preset
from tests.contract.conftest import TablePorts

OLD = "arn:aws:imagebuilder:us-west-2:111122223333:image-pipeline/linux-old"
NEW = "arn:aws:imagebuilder:us-west-2:111122223333:image-pipeline/linux-new"
OTHER = "arn:aws:imagebuilder:us-west-2:111122223333:image-pipeline/windows"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_unknown_pipeline_maps_to_nothing(table_ports: TablePorts) -> None:
    assert table_ports.catalog.presets_for_pipeline(OLD) == ()


def test_register_maps_and_stores_config(table_ports: TablePorts) -> None:
    table_ports.catalog.register(Preset("linux", OLD, {"timeout": 60}))
    assert table_ports.catalog.presets_for_pipeline(OLD) == ("linux",)
    assert table_ports.states.get("linux") == AmiState(
        preset="linux", config={"timeout": 60}, pipeline_arn=OLD
    )


def test_register_again_replaces_the_config(table_ports: TablePorts) -> None:
    catalog = table_ports.catalog
    catalog.register(Preset("linux", OLD, {"timeout": 60, "gone": True}))
    catalog.register(Preset("linux", OLD, {"timeout": 90}))
    record = table_ports.states.get("linux")
    assert record is not None
    assert record.config == {"timeout": 90}
    assert catalog.presets_for_pipeline(OLD) == ("linux",)


def test_remap_moves_the_mapping(table_ports: TablePorts) -> None:
    catalog = table_ports.catalog
    catalog.register(Preset("linux", OLD, {}))
    assert catalog.presets_for_pipeline(OLD) == ("linux",)
    catalog.register(Preset("linux", NEW, {"v": 2}), previous_pipeline_arn=OLD)
    assert catalog.presets_for_pipeline(NEW) == ("linux",)
    assert catalog.presets_for_pipeline(OLD) == ()
    record = table_ports.states.get("linux")
    assert record is not None
    assert (record.pipeline_arn, record.config) == (NEW, {"v": 2})


def test_remap_to_the_same_pipeline_keeps_it(table_ports: TablePorts) -> None:
    catalog = table_ports.catalog
    catalog.register(Preset("linux", OLD, {}))
    catalog.register(Preset("linux", OLD, {}), previous_pipeline_arn=OLD)
    assert catalog.presets_for_pipeline(OLD) == ("linux",)


def test_remap_never_drops_another_presets_mapping(table_ports: TablePorts) -> None:
    catalog = table_ports.catalog
    catalog.register(Preset("windows", OTHER, {}))
    catalog.register(Preset("linux", NEW, {}), previous_pipeline_arn=OTHER)
    assert catalog.presets_for_pipeline(OTHER) == ("windows",)
    assert catalog.presets_for_pipeline(NEW) == ("linux",)


def test_unregister_forgets_the_mapping_and_the_records_pipeline_only(
    table_ports: TablePorts,
) -> None:
    """The record keeps its state and config; without a pipeline it is a deleted preset."""
    catalog = table_ports.catalog
    catalog.register(Preset("linux", OLD, {"a": 1}))
    table_ports.states.create_initial("linux", T0)
    before = table_ports.states.get("linux")
    assert before is not None
    catalog.unregister("linux", OLD)
    assert catalog.presets_for_pipeline(OLD) == ()
    assert table_ports.states.get("linux") == evolve(before, pipeline_arn=None)
    catalog.unregister("linux", OLD)  # idempotent
    assert table_ports.states.get("linux") == evolve(before, pipeline_arn=None)


def test_unregister_from_a_pipeline_the_record_left_keeps_the_records_pipeline(
    table_ports: TablePorts,
) -> None:
    catalog = table_ports.catalog
    catalog.register(Preset("linux", OLD, {}))
    catalog.register(Preset("linux", NEW, {}), previous_pipeline_arn=OLD)
    catalog.unregister("linux", OLD)  # a late Delete of the old resource
    record = table_ports.states.get("linux")
    assert record is not None
    assert record.pipeline_arn == NEW
    assert catalog.presets_for_pipeline(NEW) == ("linux",)


def test_unregister_only_its_own_mapping(table_ports: TablePorts) -> None:
    catalog = table_ports.catalog
    catalog.register(Preset("windows", OTHER, {}))
    catalog.unregister("linux", OTHER)
    catalog.unregister("linux", None)
    catalog.unregister("linux", NEW)  # never mapped: nothing to do, no error
    assert catalog.presets_for_pipeline(OTHER) == ("windows",)


def test_two_presets_on_one_pipeline_are_both_listed(table_ports: TablePorts) -> None:
    catalog = table_ports.catalog
    catalog.register(Preset("linux-large", OLD, {"size": "large"}))
    catalog.register(Preset("linux", OLD, {"size": "small"}))
    catalog.register(Preset("linux", OLD, {"size": "small"}))  # idempotent
    assert catalog.presets_for_pipeline(OLD) == ("linux", "linux-large")
    for name, size in (("linux", "small"), ("linux-large", "large")):
        record = table_ports.states.get(name)
        assert record is not None
        assert (record.config, record.pipeline_arn) == ({"size": size}, OLD)


def test_unregister_one_leaves_the_other(table_ports: TablePorts) -> None:
    catalog = table_ports.catalog
    catalog.register(Preset("linux", OLD, {}))
    catalog.register(Preset("linux-large", OLD, {}))
    catalog.unregister("linux", OLD)
    assert catalog.presets_for_pipeline(OLD) == ("linux-large",)
    catalog.unregister("linux", OLD)  # idempotent
    assert catalog.presets_for_pipeline(OLD) == ("linux-large",)
    catalog.unregister("linux-large", OLD)
    assert catalog.presets_for_pipeline(OLD) == ()
    catalog.register(Preset("linux", OLD, {}))  # a pipeline emptied can be used again
    assert catalog.presets_for_pipeline(OLD) == ("linux",)


def test_moving_a_preset_keeps_the_old_pipelines_others(table_ports: TablePorts) -> None:
    catalog = table_ports.catalog
    catalog.register(Preset("linux", OLD, {}))
    catalog.register(Preset("linux-large", OLD, {}))
    catalog.register(Preset("windows", NEW, {}))
    catalog.register(Preset("linux", NEW, {"v": 2}), previous_pipeline_arn=OLD)
    assert catalog.presets_for_pipeline(OLD) == ("linux-large",)
    assert catalog.presets_for_pipeline(NEW) == ("linux", "windows")
    record = table_ports.states.get("linux")
    assert record is not None
    assert (record.pipeline_arn, record.config) == (NEW, {"v": 2})


def test_register_stores_retired_keys_and_targets_and_replaces_them(
    table_ports: TablePorts,
) -> None:
    catalog = table_ports.catalog
    targets = ("444455556666", "777788889999")
    catalog.register(Preset("linux", OLD, {"a": 1}, ("b", "c"), target_accounts=targets))
    record = table_ports.states.get("linux")
    assert record is not None
    assert (record.retired_keys, record.target_accounts) == (("b", "c"), targets)
    catalog.register(Preset("linux", OLD, {"a": 1}))
    record = table_ports.states.get("linux")
    assert record is not None
    assert (record.retired_keys, record.target_accounts) == ((), ())


def test_register_stores_the_ami_parameter_and_forgets_it_when_gone(
    table_ports: TablePorts,
) -> None:
    catalog, states = table_ports.catalog, table_ports.states
    states.create_initial("linux", T0)
    catalog.register(Preset("linux", OLD, {}, ami_parameter="/spot-runner/amis/linux"))
    record = states.get("linux")
    assert record is not None and record.ami_parameter == "/spot-runner/amis/linux"
    catalog.register(Preset("linux", OLD, {}))
    record = states.get("linux")
    assert record is not None and record.ami_parameter is None
    assert record.status == "building"  # the state stays
