"""End to end: the plain AMI parameter a launch template resolves (``AmiParameter``).

moto's server holds SSM, DynamoDB and EC2; Image Builder is the shared stand-in.
The custom resource deploys the preset with ``AmiParameter``; events, the
operator's rollback and unpin, and the reconcile Lambda keep that parameter a
``String`` of ``DataType`` ``aws:ec2:image`` holding the live AMI in both regions,
read back with ``GetParameter``. A preset without one gets no such parameter and
costs no call more.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from amistate_adapters import clients

from amistate.core.ami_parameter import AMI_DATA_TYPE
from amistate.shims import reconcile, runtime
from tests.e2e.test_history_kept import EXTRA, Operator
from tests.e2e.test_reconcile import NOW, World
from tests.servers import Table
from tests.shims.conftest import Aws
from tests.shims.fakes import REGION

NAME = "/spot-runner/amis/linux-x64"


@pytest.fixture
def op(
    aws: Aws,
    moto_table: Table,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> Operator:
    """A preset with an AMI parameter, its functions writing two regions."""
    caplog.set_level(logging.INFO, logger="amistate")
    monkeypatch.setattr(reconcile, "now", lambda: NOW)
    monkeypatch.setenv("AMISTATE_EXTRA_REGIONS", EXTRA)
    runtime.reset()
    clients.clear()
    aws.deploy(start_build="false", ami_parameter=NAME)
    endpoint = moto_table.endpoint
    world = Operator(aws, endpoint.client("ec2"), capsys, caplog, endpoint=endpoint)
    world.regions = (REGION, EXTRA)
    return world


def plain(op: Operator, region: str = REGION) -> dict[str, Any] | None:
    """The AMI parameter as ``GetParameter`` answers it; None if missing."""
    ssm = op.aws.ssm if region == REGION else op.aws_endpoint.client("ssm", region)
    try:
        return dict(ssm.get_parameter(Name=NAME)["Parameter"])
    except ssm.exceptions.ParameterNotFound:
        return None


def holds(op: Operator, build: str) -> bool:
    """Both regions' AMI parameter: a String of DataType aws:ec2:image holding ``build``'s AMI."""
    for region in op.regions:
        found = plain(op, region)
        want = ("String", AMI_DATA_TYPE, op.region_amis[build][region])
        if found is None or (found["Type"], found["DataType"], found["Value"]) != want:
            return False
    return True


def test_events_rollback_unpin_and_reconcile_keep_it_holding_the_live_ami(op: Operator) -> None:
    assert plain(op) is None  # no good build yet: nothing to hold
    first = op.make(0)
    second = op.make(3)
    op.deliver()
    assert holds(op, second)
    assert op.ssm_ami(EXTRA) == op.region_amis[second][EXTRA]

    op.cli("rollback", "linux-x64")
    assert holds(op, first)
    op.cli("unpin", "linux-x64")
    assert holds(op, second)

    # Drift: another tool points it at the older AMI in one region, deletes it in the other.
    op.aws.ssm.put_parameter(
        Name=NAME, Value=op.amis[first], Type="String", DataType=AMI_DATA_TYPE, Overwrite=True
    )
    op.aws_endpoint.client("ssm", EXTRA).delete_parameter(Name=NAME)
    shown = op.cli("reconcile", "--dry-run", code=1)  # changes pending
    (converge,) = [i for i in shown["instructions"] if i["action"] == "converge"]
    assert converge["regions"] == [REGION, EXTRA]
    assert converge["keys"] == [NAME, f"{NAME} (missing)"]
    assert not holds(op, second)  # a dry run writes nothing

    summary = op.run_reconcile()
    assert summary["counts"]["parameters"] == 1
    assert holds(op, second)
    with op.writes() as again:
        op.run_reconcile()
    assert again == []


@pytest.fixture
def world(
    aws: Aws,
    moto_table: Table,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> World:
    caplog.set_level(logging.INFO, logger="amistate")
    return World(aws, moto_table.endpoint.client("ec2"), capsys, caplog)


@pytest.mark.parametrize("named", [False, True])
def test_an_event_makes_two_ssm_calls_more_only_with_an_ami_parameter(
    world: World, named: bool
) -> None:
    world.aws.deploy(start_build="false", ami_parameter=NAME if named else None)
    world.build(0)
    with world.operations() as calls:
        assert world.deliver() == ["applied"]
    ssm = [c for c in calls if "Parameter" in c]
    assert ssm == ["GetParameter", "PutParameter"] * (2 if named else 1)
    names = [p["Name"] for p in world.aws.ssm.describe_parameters()["Parameters"]]
    assert names == ["/spot-runner/configs/linux-x64", *([NAME] if named else [])]
