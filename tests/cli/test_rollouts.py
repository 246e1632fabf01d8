"""Rollouts (issue 21's done-when) through ``amistate`` in-process against moto's server
and the Image Builder stand-in; builds' events go through the state Lambda's handler.

Under ``manual`` a second good build waits as candidate until ``promote``, and a rejected
candidate never comes back through redelivered events, reconcile runs or ``sync``; under
``soak`` a candidate older than ``SoakTime`` goes live at the next run (deploy or
reconcile), a younger one waits. The builds here finished in 2024: older than ``PT6H``,
younger than ``P5200W``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from amistate_adapters import clients

import amistate
from tests.cli.conftest import CONFIG, Operator, pipeline
from tests.servers import REGION


def _init(op: Operator, preset: str, *rollout: str) -> None:
    path = op.cli.write(f"{preset}.json", CONFIG)
    op.json(
        "init", preset, "--pipeline-arn", pipeline(preset), "--config", path, "--no-build", *rollout
    )


def _build(op: Operator, preset: str, hour: int) -> tuple[str, str, list[Any]]:
    """A good build, its events delivered once; (build ARN, AMI, the events to redeliver)."""
    start = datetime(2024, 3, 1, tzinfo=UTC) + timedelta(hours=hour)
    arn = op.cli.images.new_build(pipeline(preset), created=start)
    ami = op.ami()
    op.cli.images.finish(arn, "AVAILABLE", {REGION: ami}, finished=start + timedelta(minutes=20))
    events = op.cli.images.take_events()
    for event in events:
        op.handle(event)
    return arn, ami, events


@pytest.fixture
def reader(op: Operator) -> Iterator[None]:
    clients.clear()
    amistate.read.reset()
    yield
    amistate.read.reset()
    clients.clear()


def test_manual_candidate_until_promote_and_rejected_never_returns(
    op: Operator, reader: None
) -> None:
    _init(op, "linux-x64", "--rollout-policy", "manual")
    _, ami1, _ = _build(op, "linux-x64", 1)
    b2, ami2, _ = _build(op, "linux-x64", 2)
    assert op.cli.parameter("linux-x64") == {**CONFIG, "amiId": ami1, "candidateAmiId": ami2}
    runner = amistate.read.runner_ami("linux-x64")  # what a launcher reads
    assert (runner.ami_id, runner.candidate_ami_id) == (ami1, ami2)
    [status] = op.json("status", "linux-x64")["presets"]
    assert (status["amiId"], status["candidate"]["buildId"]) == (ami1, b2)
    assert status["rollout"] == {"policy": "manual", "soakTime": None}
    assert [b["candidate"] for b in op.json("history", "linux-x64")["builds"]] == [True, False]

    promoted = op.json("promote", "linux-x64")
    assert (promoted["action"], promoted["buildId"], promoted["amiId"]) == ("promoted", b2, ami2)
    assert op.cli.parameter("linux-x64") == {**CONFIG, "amiId": ami2}
    code, _, err = op.run("promote", "linux-x64")
    assert code == 1 and "no candidate waits" in err

    b3, ami3, events = _build(op, "linux-x64", 3)
    assert op.cli.parameter("linux-x64")["candidateAmiId"] == ami3
    code, out, _ = op.run("reject", "linux-x64", "--reason", "agent does not register")
    assert code == 0 and "rejected spot-runner-linux-x64" in out
    for event in events:  # redelivered
        op.handle(event)
    assert op.run("reconcile", "linux-x64")[0] == 0
    assert op.run("sync", "linux-x64")[0] == 0
    assert op.cli.parameter("linux-x64") == {**CONFIG, "amiId": ami2}
    [newest, *_] = op.json("history", "linux-x64")["builds"]
    assert (newest["buildId"], newest["candidate"], newest["inUse"]) == (b3, False, False)
    assert newest["rejected"]["reason"] == "agent does not register"
    code, _, err = op.run("pin", "linux-x64", ami3)
    assert code == 1 and "neither the AMI nor the build ARN of a good build" in err


def test_soak_old_candidate_goes_live_at_the_next_run_younger_waits(op: Operator) -> None:
    for preset, soak in (("short", "PT6H"), ("long", "P5200W")):
        _init(op, preset, "--rollout-policy", "soak", "--soak-time", soak)
        _build(op, preset, 1)
    # Build 2's events are lost: the reconcile run feeds them, then plans the promotion.
    for preset in ("short", "long"):
        start = datetime(2024, 3, 1, 2, tzinfo=UTC)
        arn = op.cli.images.new_build(pipeline(preset), created=start)
        op.cli.images.finish(
            arn,
            "AVAILABLE",
            {REGION: op.ami()},
            finished=start + timedelta(minutes=20),
            deliver=False,
        )
    plan = op.json("reconcile", "--dry-run", code=1)  # changes pending
    kinds = [(i["action"], i.get("preset")) for i in plan["instructions"]]
    assert ("promote", "short") in kinds and ("promote", "long") not in kinds
    assert op.run("reconcile")[0] == 0
    short, long = op.cli.parameter("short"), op.cli.parameter("long")
    assert "candidateAmiId" not in short
    assert long["candidateAmiId"] != long["amiId"]
    [waiting] = op.json("status", "long")["presets"]
    assert waiting["rollout"] == {"policy": "soak", "soakTime": "P36400D"}
    # A deploy is a run too: the long soak shortened, the candidate goes live at once.
    _init(op, "long", "--rollout-policy", "soak", "--soak-time", "PT6H")
    assert op.cli.parameter("long") == {**CONFIG, "amiId": waiting["candidate"]["amiId"]}


def test_init_refuses_a_bad_soak_time_naming_the_flag(op: Operator) -> None:
    path = op.cli.write("x.json", CONFIG)
    args = ("init", "x", "--pipeline-arn", pipeline("x"), "--config", path, "--no-build")
    code, _, err = op.run(*args, "--rollout-policy", "soak", "--soak-time", "6h")
    assert code == 2 and "--soak-time: '6h' is not an ISO-8601 duration" in err
    code, _, err = op.run(*args, "--rollout-policy", "canary")
    assert code == 2 and "--rollout-policy: expected one of immediate, manual, soak" in err
    assert op.run("status", "x")[0] == 1  # nothing was written
