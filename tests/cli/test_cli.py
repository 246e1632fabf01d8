"""``amistate`` driven as a user drives it: subprocess, real arguments, moto's server."""

from __future__ import annotations

import json

from amistate.testing import eventbridge_event, sns_envelope, sns_event
from tests.cli.conftest import (
    CONFIG,
    PREFIX,
    Cli,
    build,
    pipeline,
    sqs_message,
)
from tests.servers import REGION, free_port

AMI_1 = "ami-0a1b2c3d4e5f60718"
AMI_2 = "ami-0f9e8d7c6b5a40312"
AMI_3 = "ami-03c3c3c3c3c3c3c3c"


def test_usage_errors_exit_2_with_one_line(cli: Cli) -> None:
    nothing = cli.run()
    assert nothing.returncode == 2
    assert "usage: amistate" in nothing.stderr

    unknown = cli.run("frobnicate")
    assert unknown.returncode == 2
    assert "invalid choice" in unknown.stderr

    no_table = cli.run("status", bare=True)
    assert no_table.returncode == 2
    assert no_table.stderr.strip().splitlines() == [
        "amistate: error: no table: pass --table NAME or set AMISTATE_TABLE "
        "(the DynamoDB table that holds the AMI state records)"
    ]

    no_region = cli.run("status", "--table", "amistate-t1", bare=True)
    assert no_region.returncode == 2
    assert "--region" in no_region.stderr
    assert "Traceback" not in no_region.stderr

    bad_prefix = cli.run("status", "--prefix", "no-slash")
    assert bad_prefix.returncode == 2
    assert bad_prefix.stderr.startswith("amistate: error: --prefix: ")

    bad_endpoint = cli.run("status", "--endpoint-url", "localhost:4566")
    assert bad_endpoint.returncode == 2
    assert "is not an http(s) URL" in bad_endpoint.stderr

    missing = cli.run("init", "linux-x64", "--config", "x.json")
    assert missing.returncode == 2
    assert "--pipeline-arn" in missing.stderr

    bad_config = cli.write("bad.json", [1, 2])
    refused = cli.run("init", "linux-x64", "--pipeline-arn", pipeline("x"), "--config", bad_config)
    assert refused.returncode == 2
    assert refused.stderr.strip() == ("amistate: error: --config: expected a JSON object, got list")

    bad_name = cli.run("init", "../etc", "--pipeline-arn", pipeline("x"), "--config", bad_config)
    assert bad_name.returncode == 2
    assert bad_name.stderr.startswith("amistate: error: PRESET: invalid preset name")

    no_file = cli.run("replay", str(cli.tmp / "missing.json"))
    assert no_file.returncode == 2
    assert no_file.stderr.strip().endswith("missing.json: no such file")
    # Nothing was written by any refusal.
    assert cli.ddb.scan(TableName=cli.table)["Count"] == 0


def test_global_options_work_before_or_after_the_command(cli: Cli) -> None:
    cli.init("linux-x64")
    flags = ["--table", cli.table, "--region", REGION, "--endpoint-url", cli.endpoint]
    before = cli.run(*flags, "--json", "status", bare=True)
    after = cli.run("status", *flags, "--json", bare=True)
    assert before.returncode == after.returncode == 0, (before.stderr, after.stderr)
    assert json.loads(before.stdout) == json.loads(after.stdout)
    assert json.loads(before.stdout)["presets"][0]["preset"] == "linux-x64"


def test_init_registers_starts_a_build_and_is_safe_to_rerun(cli: Cli) -> None:
    config = cli.write("config.json", CONFIG)
    first = cli.json(
        "init", "linux-x64", "--pipeline-arn", pipeline("linux-x64"), "--config", config
    )
    assert first["preset"] == "linux-x64"
    assert first["stateCreated"] is True
    assert first["physicalResourceId"] == "amistate:linux-x64"
    assert first["buildArn"] in cli.images.tokens.values()  # StartImagePipelineExecution was called
    assert first["parameter"] == f"{PREFIX}/linux-x64"

    status = cli.json("status")
    assert status["drift"] is False
    [row] = status["presets"]
    assert row["status"] == "building"
    assert row["amiId"] is None
    assert row["ssmAmiId"] is None

    item = cli.ddb.get_item(
        TableName=cli.table, Key={"PK": {"S": "AMI#linux-x64"}, "SK": {"S": "LATEST"}}
    )["Item"]
    assert item["status"] == {"S": "building"}
    assert item["amiId"] == {"NULL": True}
    assert json.loads(item["config"]["S"]) == CONFIG

    again = cli.run(
        "init", "linux-x64", "--pipeline-arn", pipeline("linux-x64"), "--config", "-",
        "--no-build", stdin=json.dumps(CONFIG),
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "state record already existed" in again.stdout
    assert "no build started" in again.stdout

    # The build init started finishes; its EventBridge event is replayed (AMI via GetImage).
    cli.images.finish(first["buildArn"], "AVAILABLE", {REGION: AMI_1, "eu-west-1": AMI_2})
    event = cli.write(
        "event.json", eventbridge_event(first["buildArn"], "AVAILABLE", "2024-01-18T17:50:56Z")
    )
    replayed = cli.json("replay", event)
    [result] = replayed["events"]
    assert result["decision"] == "applied"
    assert (result["preset"], result["amiId"], result["ssmAmiId"]) == ("linux-x64", AMI_1, AMI_1)
    assert cli.parameter("linux-x64") == {**CONFIG, "amiId": AMI_1}


def test_replay_of_an_sqs_dump_runs_each_message_through_the_lambda(cli: Cli) -> None:
    cli.init("linux-x64")
    cli.init("linux-arm64")
    raw = cli.image("linux-arm64", 4, ami=AMI_3)
    dump = {
        "Messages": [
            # An SNS envelope (an SQS queue subscribed to Image Builder's topic).
            sqs_message(
                json.dumps(
                    sns_envelope(cli.image("linux-x64", 2, ami=AMI_2), "2024-01-19T10:00:00Z")
                ),
                "m-1",
            ),
            # Raw message delivery: the Image object itself, timed by SentTimestamp.
            sqs_message(json.dumps(raw), "m-2", sent_ms=1705700000000),
            # A Lambda destination record (on-failure destination of an async invocation).
            sqs_message(
                json.dumps(
                    {
                        "version": "1.0",
                        "requestContext": {"condition": "RetriesExhausted"},
                        "requestPayload": eventbridge_event(
                            build("linux-x64", 1), "BUILDING", "2024-01-18T09:00:00Z"
                        ),
                    }
                ),
                "m-3",
            ),
            # Garbage that reached the DLQ.
            sqs_message("{not json", "m-4"),
        ]
    }
    path = cli.write("dlq.json", dump)

    done = cli.json("replay", path, code=1)
    decisions = [(e["messageId"], e["decision"], e["preset"] if not e["failed"] else None)
                 for e in done["events"]]  # fmt: skip
    assert decisions == [
        ("m-1", "applied", "linux-x64"),
        ("m-2", "applied", "linux-arm64"),
        (None, "ignored", None),
        ("m-4", "malformed", None),
    ]
    assert done["failures"] == 1
    assert done["events"][0]["ssmAmiId"] == AMI_2
    assert done["events"][0]["ssmWritten"] is True
    assert done["events"][3]["error"].startswith("$.Records[0].body: not valid JSON")
    assert cli.parameter("linux-x64") == {**CONFIG, "amiId": AMI_2}
    assert cli.parameter("linux-arm64")["amiId"] == AMI_3

    # The same dump again: duplicates, nothing written; still exit 1 for the garbage.
    text = cli.run("replay", path)
    assert text.returncode == 1
    lines = text.stdout.splitlines()
    assert lines[0].split()[:2] == ["EVENT", "DECISION"]
    assert "duplicate" in lines[1]
    assert "malformed" in lines[4]
    assert lines[-1] == "4 event(s), 1 failed"


def test_replay_reads_json_lines_from_stdin_and_orders_events(cli: Cli) -> None:
    cli.init("linux-x64")
    newer = sns_event(sns_envelope(cli.image("linux-x64", 3, ami=AMI_3), "2024-01-20T10:00:00Z"))
    older = sns_event(sns_envelope(cli.image("linux-x64", 2, ami=AMI_2), "2024-01-19T10:00:00Z"))
    failed = sns_event(
        sns_envelope(cli.image("linux-x64", 4, status="FAILED"), "2024-01-21T10:00:00Z")
    )
    stdin = "".join(json.dumps(e) + "\n" for e in (newer, older, failed))

    done = cli.json("replay", "-", stdin=stdin)
    assert [e["decision"] for e in done["events"]] == ["applied", "stale", "applied"]
    assert [e["source"] for e in done["events"]] == ["<stdin>:1", "<stdin>:2", "<stdin>:3"]
    assert done["failures"] == 0

    status = cli.json("status", "linux-x64")
    [row] = status["presets"]
    assert (row["status"], row["amiId"], row["ssmAmiId"]) == ("failed", AMI_3, AMI_3)
    assert row["buildId"] == build("linux-x64", 4)
    assert row["updatedAt"] == "2024-01-21T10:00:00Z"


def test_drift_is_detected_and_repaired_idempotently(cli: Cli) -> None:
    cli.init("linux-x64")
    cli.init("linux-arm64")
    cli.init("windows")  # no build yet: nothing to sync, never drift
    events = [
        sns_event(sns_envelope(cli.image(preset, 1, ami=ami), "2024-01-19T10:00:00Z"))
        for preset, ami in (("linux-x64", AMI_1), ("linux-arm64", AMI_2))
    ]
    assert cli.json("replay", cli.write("events.jsonl", events, lines=True))["failures"] == 0
    assert cli.json("status")["drift"] is False

    # Someone edits linux-x64 by hand: an old AMI, and a new key that must survive.
    tampered = {**CONFIG, "amiId": "ami-0000000000000000a", "maxRunners": 4}
    cli.put_parameter("linux-x64", tampered)

    status = cli.run("status")
    assert status.returncode == 1
    drifted = [line for line in status.stdout.splitlines() if line.endswith("DRIFT amiId")]
    assert len(drifted) == 1
    assert drifted[0].startswith("linux-x64")
    assert "amistate sync" in status.stdout
    as_json = cli.json("status", code=1)
    assert as_json["drift"] is True
    by_preset = {row["preset"]: row for row in as_json["presets"]}
    assert by_preset["linux-x64"]["drift"] is True
    assert by_preset["linux-x64"]["ssmAmiId"] == "ami-0000000000000000a"
    assert by_preset["linux-arm64"]["drift"] is False
    assert by_preset["windows"]["drift"] is False

    dry = cli.json("sync", "--dry-run", code=1)
    actions = {(c["preset"], c["action"]) for c in dry["changes"]}
    assert actions == {
        ("linux-x64", "would-write"),
        ("linux-arm64", "unchanged"),
        ("windows", "skipped"),
    }
    assert cli.parameter("linux-x64") == tampered  # dry run changed nothing

    repaired = cli.json("sync")
    assert repaired["written"] == 1
    [change] = [c for c in repaired["changes"] if c["action"] == "written"]
    assert change["preset"] == "linux-x64"
    assert (change["ssmAmiIdBefore"], change["ssmAmiIdAfter"]) == ("ami-0000000000000000a", AMI_1)
    assert cli.parameter("linux-x64") == {**tampered, "amiId": AMI_1}  # other keys kept

    again = cli.run("sync")
    assert again.returncode == 0
    assert "0 parameter(s) written" in again.stdout
    assert cli.run("status").returncode == 0

    # A missing parameter is drift too; sync recreates it from the stored config.
    cli.ssm.delete_parameter(Name=f"{PREFIX}/linux-arm64")
    assert cli.json("status", "linux-arm64", code=1)["presets"][0]["drift"] is True
    assert cli.json("sync", "linux-arm64")["written"] == 1
    assert cli.parameter("linux-arm64") == {**CONFIG, "amiId": AMI_2}


def test_sync_refuses_to_overwrite_a_parameter_that_is_not_json(cli: Cli) -> None:
    cli.init("linux-x64")
    event = sns_event(sns_envelope(cli.image("linux-x64", 1, ami=AMI_1), "2024-01-19T10:00:00Z"))
    cli.json("replay", cli.write("e.json", event))
    cli.ssm.put_parameter(
        Name=f"{PREFIX}/linux-x64", Value="not json", Type="String", Overwrite=True
    )
    result = cli.json("sync", code=1)
    assert result["failed"] is True
    assert [c["action"] for c in result["changes"]] == ["failed"]
    value = cli.ssm.get_parameter(Name=f"{PREFIX}/linux-x64")["Parameter"]["Value"]
    assert value == "not json"


def test_unknown_preset_and_unreachable_endpoint_are_one_line_errors(cli: Cli) -> None:
    unknown = cli.run("status", "nope")
    assert unknown.returncode == 1
    assert unknown.stdout == ""
    assert unknown.stderr.strip() == (
        f"amistate: error: unknown preset 'nope': table {cli.table} has no record AMI#nope"
    )

    closed = f"http://127.0.0.1:{free_port()}"
    down = cli.run("status", "--endpoint-url", closed, "--json")
    assert down.returncode == 1
    assert down.stdout == ""
    [line] = down.stderr.strip().splitlines()
    assert line.startswith("amistate: error: Could not connect to the endpoint URL")

    debug = cli.run("status", "--endpoint-url", closed, "--debug")
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
