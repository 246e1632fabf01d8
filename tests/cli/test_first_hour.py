"""A new user's first hour with the command (issue 23, point 7), through
``amistate.cli.main.main([...])`` or the installed command, against moto's server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from amistate_adapters import runtime as aws

from tests.cli.conftest import CONFIG, Operator, init, pipeline

ROOT = Path(__file__).resolve().parents[2]


def _record_exists(op: Operator, preset: str) -> bool:
    key = {"PK": {"S": f"AMI#{preset}"}, "SK": {"S": "LATEST"}}
    return "Item" in op.cli.ddb.get_item(TableName=op.cli.table, Key=key)


def test_init_of_a_built_preset_says_its_config_reached_ssm(op: Operator) -> None:
    path = op.cli.write("linux-x64.json", CONFIG)
    args = ("init", "linux-x64", "--pipeline-arn", pipeline("linux-x64"), "--config", path)
    code, first, _ = op.run(*args, "--no-build")
    assert code == 0
    assert "gets it with amiId after the first good build" in first
    _, ami = op.build("linux-x64", 1)

    changed = op.cli.write("linux-x64.json", {**CONFIG, "timeout": 7200})
    code, again, err = op.run(*args[:-1], changed, "--no-build")
    assert code == 0, err
    assert "after the first good build" not in again
    assert f"/spot-runner/configs/linux-x64 (us-west-2) holds it, amiId {ami}" in again
    assert op.cli.parameter("linux-x64") == {**CONFIG, "timeout": 7200, "amiId": ami}
    document = op.json(*args[:-1], changed, "--no-build")
    assert document["amiId"] == ami


class _Calls:
    """Every AWS action the CLI's own clients send, as IAM names it (``service:Action``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.actions: set[str] = set()
        factory = aws.client_factory  # the real one: the attribute is replaced below

        def recording(session: Any = None, endpoint_url: str | None = None) -> Any:
            make = factory(session, endpoint_url)

            def client(service: str, region: str) -> Any:
                made = make(service, region)
                made.meta.events.register("before-call", self._seen)
                return made

            return client

        monkeypatch.setattr(aws, "client_factory", recording)

    def _seen(self, model: Any, **_: Any) -> None:
        self.actions.add(f"{model.service_model.endpoint_prefix}:{model.name}")


def _documented_iam(command: str) -> set[str]:
    """The actions docs/cli.md's IAM table lists for ``command``, SecureString extras aside,
    and the history read only when another writer's write lands in between."""
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    row = re.search(rf"^\| `{command}` \| (.*) \|$", text, re.M)
    assert row, f"docs/cli.md has no IAM row for {command}"
    listed = set(re.findall(r"`([a-z0-9]+:[A-Za-z]+)`", row.group(1)))
    extras = {"ssm:DescribeParameters", "ssm:GetParameterHistory"}
    return {a for a in listed if not a.startswith("kms:") and a not in extras}


def test_init_makes_exactly_the_calls_docs_cli_lists_for_its_iam(
    op: Operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _Calls(monkeypatch)
    path = op.cli.write("linux-x64.json", CONFIG)
    args = ("init", "linux-x64", "--pipeline-arn", pipeline("linux-x64"), "--config", path)
    assert op.run(*args)[0] == 0  # a first registration, starting a build
    first = set(calls.actions)
    op.build("linux-x64", 1)  # (the state Lambda's calls: not init's)
    calls.actions.clear()
    op.cli.write("linux-x64.json", {**CONFIG, "timeout": 60})
    assert op.run(*args, "--no-build")[0] == 0  # a new Config, on a preset with an AMI: pushed
    assert first | calls.actions == _documented_iam("init")


def test_a_pipeline_in_another_region_is_a_usage_error_naming_the_flag(op: Operator) -> None:
    path = op.cli.write("linux-x64.json", CONFIG)
    elsewhere = pipeline("linux-x64").replace(":us-west-2:", ":eu-west-1:")
    code, out, err = op.run(
        "init", "linux-x64", "--pipeline-arn", elsewhere, "--config", path, "--no-build"
    )
    assert code == 2, err
    assert out == ""
    assert err.startswith(f"amistate: error: --pipeline-arn: {elsewhere!r} is in eu-west-1")
    assert "--region" in err
    assert "function" not in err and "PipelineArn" not in err
    assert not _record_exists(op, "linux-x64")


def test_rollback_without_a_good_build_says_so_and_does_not_suggest_a_pin(op: Operator) -> None:
    init(op, "linux-x64")
    op.build("linux-x64", 1, status="FAILED", reason="InstallDocker failed")
    code, out, err = op.run("rollback", "linux-x64")
    assert code == 1
    assert out == ""
    assert err.strip() == (
        "amistate: error: preset linux-x64 has no good build yet, so nothing to roll back to "
        "(see `amistate history linux-x64`); nothing was written"
    )


def test_a_missing_replay_file_is_a_usage_error_like_a_missing_config(op: Operator) -> None:
    missing = str(op.cli.tmp / "missing.json")
    code, _, err = op.run("replay", missing)
    assert code == 2
    assert err.strip() == f"amistate: error: FILE {missing}: no such file"
    garbled = op.cli.tmp / "garbled.json"
    garbled.write_text("{not json\n")
    code, _, err = op.run("replay", str(garbled))
    assert code == 2
    assert err.startswith(f"amistate: error: {garbled}:1: not valid JSON")
    code, _, err = op.run(
        "init", "linux-x64", "--pipeline-arn", pipeline("linux-x64"), "--config", missing
    )
    assert code == 2
    assert err.strip() == f"amistate: error: --config {missing}: no such file"


@pytest.mark.parametrize(
    ("command", "flag", "value"),
    [
        ("demo", "--table", "mine"),
        ("demo", "--region", "eu-west-1"),
        ("demo", "--prefix", "/mine"),
        ("demo", "--endpoint-url", "http://127.0.0.1:1"),
        ("sandbox", "--endpoint-url", "http://127.0.0.1:1"),
        ("sandbox", "--prefix", "/mine"),
    ],
)
def test_global_options_a_local_command_cannot_honour_are_refused(
    command: str, flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from amistate.cli.main import main

    assert main([command, flag, value]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"amistate: error: {flag}: {command} ")


def test_output_into_a_closed_pipe_ends_quietly() -> None:
    """``amistate demo | head``: the reader goes away; no traceback, no error line."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    try:
        done = subprocess.run(
            [sys.executable, "-m", "amistate.cli.main", "demo"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 141  # 128 + SIGPIPE, as a shell reports a process it ended


def test_init_with_an_ami_parameter_keeps_it_and_names_the_flag_when_refused(
    op: Operator,
) -> None:
    path = op.cli.write("linux-x64.json", CONFIG)
    args = ("init", "linux-x64", "--pipeline-arn", pipeline("linux-x64"), "--config", path)
    among = "/spot-runner/configs/linux-x64-ami"
    code, out, err = op.run(*args, "--no-build", "--ami-parameter", among)
    assert (code, out) == (2, "")
    assert err.startswith(f"amistate: error: --ami-parameter: {among!r} is under /spot-runner/")
    taken = "/amis/taken"
    op.cli.ssm.put_parameter(Name=taken, Value="ami-0123456789abcdef0", Type="String")
    code, out, err = op.run(*args, "--no-build", "--ami-parameter", taken)
    assert (code, out) == (2, "")
    assert err.startswith(
        f"amistate: error: --ami-parameter: SSM parameter {taken} exists as a String of DataType "
        "text; amistate keeps only a String of DataType aws:ec2:image"
    )
    assert not _record_exists(op, "linux-x64")  # nothing written by either refusal

    name = "/spot-runner/amis/linux-x64"
    code, out, err = op.run(*args, "--no-build", "--ami-parameter", name)
    assert code == 0, err
    assert f"AMI parameter {name} (aws:ec2:image) gets the AMI after the first good build" in out
    _, ami = op.build("linux-x64", 1)
    found = op.cli.ssm.get_parameter(Name=name)["Parameter"]
    assert (found["Value"], found["DataType"]) == (ami, "aws:ec2:image")
    document = op.json(*args, "--no-build", "--ami-parameter", name)
    assert (document["amiParameter"], document["amiId"]) == (name, ami)


def test_a_bad_target_account_is_a_usage_error_naming_the_flag(op: Operator) -> None:
    path = op.cli.write("linux-x64.json", CONFIG)
    code, out, err = op.run(
        "init", "linux-x64", "--pipeline-arn", pipeline("linux-x64"), "--config", path,
        "--no-build", "--target-account", "444455556666", "--target-account", "12",
    )  # fmt: skip
    assert (code, out) == (2, ""), err
    assert err.startswith("amistate: error: --target-account: '12' is not a 12-digit AWS account")
    assert not _record_exists(op, "linux-x64")
