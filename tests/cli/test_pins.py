"""``history``, ``pin``, ``unpin``, ``rollback`` (issue 14's done-when) through
``amistate.cli.main.main([...])`` against moto's server (DynamoDB, SSM, EC2) and the
Image Builder stand-in; builds' events go through the state Lambda's handler."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from amistate_adapters import clients

import amistate
from tests.cli.conftest import PREFIX, Operator, init

UNKNOWN_AMI = "ami-0123456789abcdef0"


def _ssm_ami(op: Operator, preset: str = "linux-x64") -> str:
    return str(op.cli.parameter(preset)["amiId"])


def _record(op: Operator) -> dict[str, Any]:
    key = {"PK": {"S": "AMI#linux-x64"}, "SK": {"S": "LATEST"}}
    item: dict[str, Any] = op.cli.ddb.get_item(TableName=op.cli.table, Key=key)["Item"]
    return item


@pytest.fixture
def reader(op: Operator) -> Iterator[None]:
    clients.clear()
    amistate.read.reset()
    yield
    amistate.read.reset()
    clients.clear()


def test_history_lists_builds_newest_first_with_failures(op: Operator, reader: None) -> None:
    init(op, "linux-x64")
    b1, ami1 = op.build("linux-x64", 1)
    b2, _ = op.build("linux-x64", 2, status="FAILED", reason="InstallDocker failed")
    b3, ami3 = op.build("linux-x64", 3)

    document = op.json("history", "linux-x64")
    assert list(document) == ["preset", "accountsBehind", "builds"]
    assert document["preset"] == "linux-x64"
    builds = document["builds"]
    assert [b["buildId"] for b in builds] == [b3, b2, b1]
    assert [list(b) for b in builds] == [
        [
            "buildId",
            "status",
            "amiId",
            "updatedAt",
            "amis",
            "reason",
            "inUse",
            "pinned",
            "candidate",
            "rejected",
        ]
    ] * 3
    assert [(b["status"], b["amiId"], b["inUse"], b["pinned"]) for b in builds] == [
        ("ready", ami3, True, False),
        ("failed", None, False, False),
        ("ready", ami1, False, False),
    ]
    assert builds[1]["reason"] == "InstallDocker failed"
    assert builds[0]["amis"] == {"us-west-2": ami3}
    assert builds[0]["updatedAt"] > builds[1]["updatedAt"] > builds[2]["updatedAt"]

    assert [b["buildId"] for b in op.json("history", "linux-x64", "--limit", "2")["builds"]] == [
        b3,
        b2,
    ]
    code, out, _ = op.run("history", "linux-x64")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split()[:4] == ["BUILD", "STATUS", "AMI", "ID"]
    assert lines[1].split()[1:3] == ["ready", str(ami3)] and lines[1].endswith("in use")
    assert lines[2].split()[1:3] == ["failed", "-"] and "InstallDocker failed" in lines[2]

    # The reader API gives other Lambdas the same history, through `import amistate`.
    records = amistate.read.history("linux-x64")
    assert [(r.build_id, r.ami_id) for r in records] == [(b3, ami3), (b2, None), (b1, ami1)]
    assert [r.build_id for r in amistate.read.history("linux-x64", limit=1)] == [b3]
    with pytest.raises(ValueError, match="limit"):
        amistate.read.history("linux-x64", limit=0)


def test_pin_holds_against_newer_builds_and_reconcile_until_unpin(op: Operator) -> None:
    init(op, "linux-x64")
    b1, ami1 = op.build("linux-x64", 1)
    _, ami2 = op.build("linux-x64", 2)
    assert _ssm_ami(op) == ami2

    pinned = op.json("pin", "linux-x64", str(ami1), "--reason", "INC-42 broken agent")
    assert (pinned["action"], pinned["amiId"]) == ("pinned", ami1)
    assert pinned["pin"]["buildId"] == b1
    assert pinned["pin"]["reason"] == "INC-42 broken agent"
    assert pinned["regions"] == [{"region": "us-west-2", "ssmAmiId": ami1}]
    assert pinned["parameter"] == f"{PREFIX}/linux-x64"
    assert _ssm_ami(op) == ami1

    # A newer build is recorded, but the parameter keeps the pin.
    b3, ami3 = op.build("linux-x64", 3)
    assert _ssm_ami(op) == ami1
    assert _record(op)["amiId"] == {"S": ami3}
    [row] = op.json("status")["presets"]
    assert (row["amiId"], row["ssmAmiId"], row["drift"]) == (ami3, ami1, False)
    assert (row["pin"]["buildId"], row["pin"]["holds"]) == (b1, True)
    assert "(holds)" in op.run("status")[1]
    history = op.json("history", "linux-x64")["builds"]
    assert [(b["inUse"], b["pinned"]) for b in history] == [(False, False)] * 2 + [(True, True)]

    # sync and a reconcile run respect the pin.
    assert op.json("sync")["written"] == 0
    assert op.json("reconcile")["converged"] is True
    assert _ssm_ami(op) == ami1

    # Pinning the same build again changes nothing; by build ARN works too.
    assert op.json("pin", "linux-x64", b1)["action"] == "unchanged"

    unpinned = op.json("unpin", "linux-x64")
    assert (unpinned["action"], unpinned["pin"], unpinned["amiId"]) == ("unpinned", None, ami3)
    assert _ssm_ami(op) == ami3
    assert op.json("unpin", "linux-x64")["action"] == "unchanged"
    assert op.json("history", "linux-x64")["builds"][0]["buildId"] == b3


def test_rollback_after_ok_failed_ok_puts_the_first_ami_back_and_holds(op: Operator) -> None:
    init(op, "linux-x64")
    b1, ami1 = op.build("linux-x64", 1)
    op.build("linux-x64", 2, status="FAILED")
    _, ami3 = op.build("linux-x64", 3)
    assert _ssm_ami(op) == ami3

    code, out, err = op.run("rollback", "linux-x64")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"linux-x64: pinned to {b1.partition(':image/')[2]} {ami1} (rollback)",
        f"  {PREFIX}/linux-x64 (us-west-2) holds {ami1}",
    ]
    assert _ssm_ami(op) == ami1
    op.build("linux-x64", 4)
    assert _ssm_ami(op) == ami1  # holds against the next build
    # Nothing older than build 1 is good: a second rollback is refused, nothing written.
    before = _record(op)
    code, out, err = op.run("rollback", "linux-x64")
    assert (code, out) == (1, "")
    assert err.startswith("amistate: error: preset linux-x64: no good build older than")
    assert _record(op) == before


def test_pin_of_anything_but_a_good_build_exits_1_and_writes_nothing(op: Operator) -> None:
    init(op, "linux-x64")
    _, ami1 = op.build("linux-x64", 1)
    failed, _ = op.build("linux-x64", 2, status="FAILED")
    before = (_record(op), op.cli.ssm.get_parameter(Name=f"{PREFIX}/linux-x64")["Parameter"])

    for target in (UNKNOWN_AMI, failed, failed.replace("linux-x64", "linux-arm64")):
        code, out, err = op.run("pin", "linux-x64", target)
        assert (code, out) == (1, ""), target
        assert "is neither the AMI nor the build ARN of a good build" in err
        assert "nothing was written" in err
    code, out, _ = op.run("pin", "linux-x64", UNKNOWN_AMI, "--json")
    assert (code, out) == (1, "")  # --json: stdout stays empty on error
    after = (_record(op), op.cli.ssm.get_parameter(Name=f"{PREFIX}/linux-x64")["Parameter"])
    assert after == before
    assert "pin" not in after[0] or after[0]["pin"] == {"NULL": True}
    assert _ssm_ami(op) == ami1
