"""``amistate reconcile`` (issue 13's CLI done-when) through ``amistate.cli.main.main([...])``
against moto's server (DynamoDB, SSM, EC2) and the Image Builder stand-in's listing."""

from __future__ import annotations

from typing import Any

from amistate.core.in_use import InUseKeys, table_deployment
from tests.cli.conftest import CONFIG, PREFIX, Operator, init
from tests.servers import REGION


def protected(op: Operator, presets: str) -> dict[str, str]:
    """The tags of an AMI the CLI's deployment (named by its table) protects for ``presets``."""
    keys = InUseKeys.of(table_deployment(op.cli.table, REGION))
    return {keys.protect: "true", keys.presets: presets}


def _world(op: Operator) -> tuple[dict[str, Any], dict[str, Any]]:
    """The record and the parameter, to prove a run wrote nothing."""
    key = {"PK": {"S": "AMI#linux-x64"}, "SK": {"S": "LATEST"}}
    item = op.cli.ddb.get_item(TableName=op.cli.table, Key=key)["Item"]
    parameter = op.cli.ssm.get_parameter(Name=f"{PREFIX}/linux-x64")["Parameter"]
    return item, {"Value": parameter["Value"], "Version": parameter["Version"]}


def test_dry_run_exits_1_and_writes_nothing_while_a_lost_build_is_pending(op: Operator) -> None:
    init(op, "linux-x64")
    _, ami1 = op.build("linux-x64", 1)
    b2, ami2 = op.build("linux-x64", 2, deliver=False)  # its event is lost
    assert ami1 and ami2
    before = _world(op)

    dry = op.json("reconcile", "--dry-run", code=1)
    assert set(dry) == {
        "dryRun", "presets", "counts", "instructions", "problems", "failed", "converged"
    }  # fmt: skip
    assert (dry["dryRun"], dry["presets"], dry["converged"]) == (True, 1, False)
    assert (dry["problems"], dry["failed"]) == ([], {})
    assert dry["counts"]["builds"] == 1
    feed = [i for i in dry["instructions"] if i["action"] == "feed"]
    assert [(i["preset"], i["buildId"], i["status"]) for i in feed] == [
        ("linux-x64", b2, "AVAILABLE")
    ]
    assert feed[0]["amis"] == {"us-west-2": ami2}
    tag = [i for i in dry["instructions"] if i["action"] == "tag"]
    assert tag and set(tag[0]) == {"action", "region", "amiIds", "tags"}
    assert tag[0]["tags"] == protected(op, "linux-x64")
    code, out, _ = op.run("reconcile", "--dry-run")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].split() == ["ACTION", "PRESET/REGION", "WHAT"]
    assert any(line.split()[:2] == ["feed", "linux-x64"] and "AVAILABLE" in line for line in lines)
    assert lines[-1].startswith("dry run over 1 preset(s): would do 1 builds")
    assert lines[-1].endswith("nothing written")
    assert _world(op) == before
    assert op.tags(ami1) == {}

    done = op.json("reconcile")
    assert (done["dryRun"], done["converged"], done["counts"]["builds"]) == (False, True, 1)
    assert all((i["done"], i["failed"]) == (True, None) for i in done["instructions"])
    assert op.cli.parameter("linux-x64") == {**CONFIG, "amiId": ami2}
    assert op.tags(ami2) == protected(op, "linux-x64")
    assert op.tags(ami1) == protected(op, "linux-x64")  # the previous good AMI stays protected

    # Nothing is left: a second run and a dry run both exit 0 and write nothing.
    settled = _world(op)
    again = op.json("reconcile", "--dry-run")
    assert (again["converged"], again["instructions"]) == (True, [])
    code, out, _ = op.run("reconcile", "linux-x64")
    assert code == 0
    assert out.strip() == "reconciled 1 preset(s): no change; 0 problem(s), 0 failure(s)"
    assert _world(op) == settled
    # The late event changes nothing either.
    op.cli.images.finish(b2, "AVAILABLE", {"us-west-2": ami2})
    for event in op.cli.images.take_events():
        op.handle(event)
    assert _world(op)[1] == settled[1]


def test_config_drift_and_a_vanished_ami_are_repaired(op: Operator) -> None:
    init(op, "linux-x64")
    _, ami1 = op.build("linux-x64", 1)
    _, ami2 = op.build("linux-x64", 2)
    assert ami1 is not None and ami2 is not None
    op.json("reconcile")  # tags settle
    op.cli.put_parameter("linux-x64", {**CONFIG, "timeout": 1, "amiId": ami2})

    dry = op.json("reconcile", "--dry-run", code=1)
    [converge] = [i for i in dry["instructions"] if i["action"] == "converge"]
    assert converge == {
        "action": "converge", "preset": "linux-x64", "regions": ["us-west-2"], "keys": ["timeout"]
    }  # fmt: skip
    assert op.cli.parameter("linux-x64")["timeout"] == 1
    assert op.json("reconcile")["counts"]["parameters"] == 1
    assert op.cli.parameter("linux-x64") == {**CONFIG, "amiId": ami2}

    op.ec2.deregister_image(ImageId=ami2)
    dry = op.json("reconcile", "--dry-run", code=1)
    [fallback] = [i for i in dry["instructions"] if i["action"] == "fall-back"]
    assert (fallback["vanished"], fallback["amiId"]) == (ami2, ami1)
    code, out, _ = op.run("reconcile")
    assert code == 0
    assert any(line.startswith("fall-back") and ami2 in line for line in out.splitlines())
    assert op.cli.parameter("linux-x64")["amiId"] == ami1
    assert op.run("reconcile", "--dry-run")[0] == 0


def test_a_problem_exits_1_even_after_a_real_run(op: Operator) -> None:
    init(op, "linux-x64")
    _, ami1 = op.build("linux-x64", 1)
    assert ami1 is not None
    op.build("linux-x64", 2)
    op.json("pin", "linux-x64", ami1)
    op.ec2.deregister_image(ImageId=ami1)  # the pinned AMI vanishes: never silently unpinned

    done = op.json("reconcile", code=1)
    assert done["converged"] is False
    [problem] = done["problems"]
    assert problem["preset"] == "linux-x64"
    assert ami1 in problem["problem"] and "pin" in problem["problem"]
    assert {"action": "problem", **problem} in done["instructions"]
    code, out, _ = op.run("reconcile")
    assert code == 1
    assert any(line.startswith("problem") and ami1 in line for line in out.splitlines())
    assert out.splitlines()[-1].endswith("1 problem(s), 0 failure(s)")
    assert op.cli.parameter("linux-x64")["amiId"] == ami1
