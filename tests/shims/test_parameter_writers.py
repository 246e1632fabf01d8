"""Other writers of the parameter, through the state Lambda on moto's server (issue 20).

Another tool's write that lands between amistate's ``GetParameter`` and its ``PutParameter``
is found by the version ``PutParameter`` answers and kept (its keys amistate does not own);
an Advanced parameter stays Advanced when amistate writes a small value into it.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from amistate_adapters import clients

from tests.shims.conftest import CONFIG, PIPELINE, Aws
from tests.shims.fakes import ACCOUNT, REGION, sample
from tests.ssm_writers import ForeignWrite, TierRule, tier_of

NAME = "/spot-runner/configs/linux-x64"
BUILD = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0/3"
AMI = "ami-0a1b2c3d4e5f60718"
OLD_AMI = "ami-00000000000000001"


def available() -> dict[str, Any]:
    event: dict[str, Any] = sample("eventbridge-image-state-change-available.json")
    event["resources"] = [BUILD]
    return event


@pytest.fixture
def world(aws: Aws, caplog: pytest.LogCaptureFixture) -> Aws:
    caplog.set_level(logging.INFO, logger="amistate")
    aws.deploy(start_build="false")
    aws.images.add_image(BUILD, PIPELINE, {REGION: AMI})
    return aws


def _their_edit(value: dict[str, Any]) -> dict[str, Any]:
    """Another tool: sets its own key, drops one of its own, and changes a Config key."""
    edited = {**value, "maxRunners": 12, "timeout": 1}
    del edited["team"]
    return edited


def test_a_key_written_between_the_read_and_the_write_is_kept(world: Aws) -> None:
    world.put_parameter({**CONFIG, "team": "ci", "amiId": OLD_AMI})
    foreign = ForeignWrite(world.ssm, NAME, _their_edit)
    foreign.attach(clients.client("ssm", REGION))  # the client the handler's adapter uses
    foreign.arm()

    assert world.invoke(available()) is None

    assert foreign.done == 1
    # Their key is kept, the key they removed stays removed, the Config's key wins.
    assert world.parameter_json() == {**CONFIG, "maxRunners": 12, "amiId": AMI}
    # amistate wrote twice: once over their write (found by its version), once to keep it.
    assert [put["Name"] for put in foreign.seen] == [NAME, NAME]
    parameter = world.parameter()
    assert parameter is not None and parameter["Version"] == 4


def test_an_advanced_parameter_stays_advanced_under_a_small_value(world: Aws) -> None:
    world.ssm.put_parameter(
        Name=NAME, Value=f'{{"maxRunners":3,"amiId":"{OLD_AMI}"}}', Type="String", Tier="Advanced"
    )
    rule = TierRule(world.ssm)
    rule.attach(clients.client("ssm", REGION))

    assert world.invoke(available()) is None

    assert world.parameter_json() == {**CONFIG, "maxRunners": 3, "amiId": AMI}
    assert tier_of(world.ssm, NAME) == "Advanced"
    # The first write named no tier (GetParameter does not tell it) and was refused;
    # amistate read the tier and wrote again naming it.
    assert rule.refused == 1


def test_with_no_other_writer_the_write_costs_no_extra_call(world: Aws) -> None:
    """The version check rides on PutParameter's answer and the tier is not read: a success
    still makes one GetParameter and one PutParameter (docs/performance.md's budget)."""
    world.ssm.put_parameter(
        Name=NAME, Value=f'{{"maxRunners":3,"amiId":"{OLD_AMI}"}}', Type="String", Tier="Advanced"
    )
    operations: list[str] = []
    clients.client("ssm", REGION).meta.events.register(
        "before-call.ssm", lambda model, **_: operations.append(model.name)
    )

    assert world.invoke(available()) is None

    assert operations == ["GetParameter", "PutParameter"]
    assert world.parameter_json() == {**CONFIG, "maxRunners": 3, "amiId": AMI}
    assert tier_of(world.ssm, NAME) == "Advanced"
