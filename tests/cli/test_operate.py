"""``status`` and ``sync`` (issue 12), and usage errors of every operator command, through
``amistate.cli.main.main([...])`` against moto's server and the Image Builder stand-in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.cli.conftest import CONFIG, PREFIX, Operator, build, init, pipeline

AMI_1 = "ami-0a1b2c3d4e5f60718"
AMI_2 = "ami-0f9e8d7c6b5a40312"
AMI_3 = "ami-03c3c3c3c3c3c3c3c"


def _item(op: Operator, preset: str) -> dict[str, Any]:
    key = {"PK": {"S": f"AMI#{preset}"}, "SK": {"S": "LATEST"}}
    found: dict[str, Any] = op.cli.ddb.get_item(TableName=op.cli.table, Key=key).get("Item", {})
    return found


def _rows(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["preset"]: row for row in document["presets"]}


def test_status_names_the_build_of_the_ami_and_shows_config_drift_sync_repairs(
    op: Operator,
) -> None:
    init(op, "linux-x64")
    op.deliver(
        op.cli.image("linux-x64", 1, ami=AMI_1), op.cli.image("linux-x64", 2, status="FAILED")
    )

    [row] = op.json("status")["presets"]
    assert (row["status"], row["buildId"]) == ("failed", build("linux-x64", 2))
    assert (row["amiId"], row["amiBuildId"]) == (AMI_1, build("linux-x64", 1))
    assert row["amiUpdatedAt"] is not None
    assert row["pin"] is None
    assert (row["drift"], row["problem"]) == (False, None)
    [region] = row["regions"]
    assert region == {
        "region": "us-west-2", "amiId": AMI_1, "ssmAmiId": AMI_1, "parameterExists": True,
        "problem": None, "drift": False, "amiDrift": False, "configDrift": [],
        "amiParameterDrift": None,
    }  # fmt: skip

    # Someone edits the parameter: a config key changed, one removed, one of their own added.
    edited = {**CONFIG, "timeout": 7200, "maxRunners": 4}
    del edited["spot"]
    op.cli.put_parameter("linux-x64", {**edited, "amiId": AMI_1})
    code, out, _ = op.run("status")
    assert code == 1
    [line] = [line for line in out.splitlines() if line.startswith("linux-x64")]
    assert line.split()[:4] == ["linux-x64", "failed", "1.0.0/2", "2024-02-01"]
    assert AMI_1 in line and "1.0.0/1" in line
    assert line.endswith("DRIFT spot,timeout")
    assert "config drift in spot, timeout" in out
    [region] = op.json("status", code=1)["presets"][0]["regions"]
    assert (region["drift"], region["amiDrift"], region["configDrift"]) == (
        True, False, ["spot", "timeout"],
    )  # fmt: skip

    dry = op.json("sync", "--dry-run", code=1)
    [change] = dry["changes"]
    assert (change["action"], change["keys"]) == ("would-write", ["spot", "timeout"])
    assert op.cli.parameter("linux-x64") == {**edited, "amiId": AMI_1}  # nothing written

    done = op.json("sync")
    assert (done["written"], done["failed"]) == (1, False)
    assert done["changes"][0]["ssmAmiIdAfter"] == AMI_1
    # The stack's keys win, the operator's own key stays.
    assert op.cli.parameter("linux-x64") == {**CONFIG, "maxRunners": 4, "amiId": AMI_1}
    assert op.run("status")[0] == 0
    code, out, _ = op.run("sync")
    assert (code, out.splitlines()[-1]) == (0, "0 parameter(s) written")


def test_ami_drift_and_a_missing_parameter_are_repaired_through_the_same_loop(
    op: Operator,
) -> None:
    init(op, "linux-x64")
    op.deliver(op.cli.image("linux-x64", 1, ami=AMI_1))
    op.cli.put_parameter("linux-x64", {**CONFIG, "amiId": AMI_2})
    [region] = op.json("status", code=1)["presets"][0]["regions"]
    assert (region["ssmAmiId"], region["amiDrift"], region["configDrift"]) == (AMI_2, True, [])
    text = op.run("sync")[1]
    assert f"{AMI_2} -> {AMI_1}" in text
    assert op.cli.parameter("linux-x64") == {**CONFIG, "amiId": AMI_1}

    op.cli.ssm.delete_parameter(Name=f"{PREFIX}/linux-x64")
    [region] = op.json("status", code=1)["presets"][0]["regions"]
    assert (region["parameterExists"], region["amiDrift"]) == (False, True)
    assert op.json("sync", "linux-x64")["written"] == 1
    assert op.cli.parameter("linux-x64") == {**CONFIG, "amiId": AMI_1}


def test_status_shows_the_plain_ami_parameter_drifting_and_sync_repairs_it(
    op: Operator,
) -> None:
    name = "/spot-runner/amis/linux-x64"
    path = op.cli.write("linux-x64.json", CONFIG)
    op.json(
        "init", "linux-x64", "--pipeline-arn", pipeline("linux-x64"), "--config", path,
        "--no-build", "--ami-parameter", name,
    )  # fmt: skip
    op.deliver(op.cli.image("linux-x64", 1, ami=AMI_1))
    assert op.run("status")[0] == 0
    op.cli.ssm.put_parameter(
        Name=name, Value=AMI_2, Type="String", DataType="aws:ec2:image", Overwrite=True
    )
    [region] = op.json("status", code=1)["presets"][0]["regions"]
    assert (region["drift"], region["amiDrift"], region["amiParameterDrift"]) == (True, False, name)
    code, out, _ = op.run("status")
    [line] = [line for line in out.splitlines() if line.startswith("linux-x64 ")]
    assert code == 1 and line.endswith(f"DRIFT {name}")
    assert f"linux-x64 (us-west-2): AMI parameter {name} should hold {AMI_1}" in out
    op.cli.ssm.delete_parameter(Name=name)
    [region] = op.json("status", code=1)["presets"][0]["regions"]
    assert region["amiParameterDrift"] == f"{name} (missing)"
    op.json("sync")
    assert op.cli.ssm.get_parameter(Name=name)["Parameter"]["Value"] == AMI_1
    assert op.run("status")[0] == 0


def test_a_parameter_it_cannot_use_is_a_problem_on_its_row_and_the_others_carry_on(
    op: Operator,
) -> None:
    for n, (preset, ami) in enumerate((("alpha", AMI_1), ("bravo", AMI_2), ("charlie", AMI_3))):
        init(op, preset)
        op.deliver(op.cli.image(preset, n + 1, ami=ami))
    op.cli.ssm.put_parameter(Name=f"{PREFIX}/bravo", Value="a,b", Type="StringList", Overwrite=True)
    op.cli.ssm.put_parameter(Name=f"{PREFIX}/alpha", Value="not json", Overwrite=True)
    op.cli.put_parameter("charlie", {**CONFIG, "amiId": AMI_1})  # drift after the problems

    code, out, err = op.run("status")
    assert (code, err) == (1, "")
    lines = {line.split()[0]: line for line in out.splitlines() if line[:1].isalpha()}
    assert lines["alpha"].endswith("PROBLEM")
    assert lines["bravo"].endswith("PROBLEM")
    assert lines["charlie"].endswith("DRIFT amiId")
    assert "StringList" in out
    rows = _rows(op.json("status", code=1))
    assert "StringList" in rows["bravo"]["problem"]
    assert rows["bravo"]["regions"][0]["parameterExists"] is True
    assert "JSON" in rows["alpha"]["problem"]
    assert (rows["charlie"]["problem"], rows["charlie"]["drift"]) == (None, True)

    done = op.json("sync", code=1)
    actions = {c["preset"]: c["action"] for c in done["changes"]}
    assert actions == {"alpha": "failed", "bravo": "failed", "charlie": "written"}
    assert done["failed"] is True
    assert op.cli.parameter("charlie")["amiId"] == AMI_3  # repaired past the problems
    kept = op.cli.ssm.get_parameter(Name=f"{PREFIX}/bravo")["Parameter"]
    assert (kept["Type"], kept["Value"]) == ("StringList", "a,b")  # never overwritten
    assert op.cli.ssm.get_parameter(Name=f"{PREFIX}/alpha")["Parameter"]["Value"] == "not json"


@pytest.mark.parametrize(
    "args",
    [
        ("status", "../etc"),
        ("sync", "linux-x64", "bad/name"),
        ("reconcile", "--dry-run", "a#b"),
        ("history", "../etc"),
        ("pin", "../etc", AMI_1),
        ("unpin", ".hidden"),
        ("rollback", "x" * 200),
    ],
)
def test_an_invalid_preset_name_is_a_usage_error(op: Operator, args: tuple[str, ...]) -> None:
    code, out, err = op.run(*args)
    assert (code, out) == (2, "")
    assert err.startswith("amistate: error: PRESET: invalid preset name")
    assert len(err.strip().splitlines()) == 1


def test_bad_arguments_exit_2_and_an_unknown_preset_exits_1_writing_nothing(
    op: Operator,
) -> None:
    bad: tuple[tuple[tuple[str, ...], str], ...] = (
        (("pin", "linux-x64", "ami-nothex"), "AMI_ID|BUILD_ARN: 'ami-nothex' is neither"),
        (("pin", "linux-x64", AMI_1, "--reason", "x" * 300), "--reason: 1 to 256"),
        (("rollback", "linux-x64", "--reason", "two\nlines"), "--reason:"),
    )
    for args, needle in bad:
        code, out, err = op.run(*args)
        assert (code, out) == (2, ""), args
        assert err.startswith(f"amistate: error: {needle}"), err
    with pytest.raises(SystemExit) as exited:
        op.run("history", "linux-x64", "--limit", "0")
    assert exited.value.code == 2
    assert "--limit: must be at least 1" in op.capsys.readouterr().err

    for command in ("status", "sync", "history", "unpin"):
        code, out, err = op.run(command, "nope")
        assert (code, out) == (1, ""), command
        assert err == (
            f"amistate: error: unknown preset 'nope': table {op.cli.table} has no record AMI#nope\n"
        )
    assert op.cli.ddb.scan(TableName=op.cli.table)["Count"] == 0


def test_status_text_and_json_cover_every_preset(op: Operator) -> None:
    init(op, "linux-x64")
    init(op, "windows")  # no build yet: no AMI, never drift
    op.deliver(op.cli.image("linux-x64", 1, ami=AMI_1))
    document = op.json("status")
    assert set(document) == {"table", "presets", "drift", "problems"}
    assert (document["drift"], document["problems"]) == (False, 0)
    rows = _rows(document)
    assert rows["windows"]["amiId"] is None
    assert rows["windows"]["regions"][0]["parameterExists"] is False
    assert rows["windows"]["drift"] is False
    code, out, _ = op.run("status")
    assert code == 0
    header = out.splitlines()[0].split()
    assert header[:3] == ["PRESET", "STATUS", "BUILD"]
    assert "PIN" in header
    assert json.dumps(document)  # serialisable as is
    assert _item(op, "linux-x64")["amiId"] == {"S": AMI_1}
