"""A build version ARN is all of the input or nothing (issue 20's mutant: a build ARN
with trailing characters accepted).

Through the public entry points (the state Lambda's handler on moto's server,
and ``amistate pin``): an ARN that starts like a build ARN but goes on, or whose
digits are not ASCII, is refused with the field named, and nothing is written.
With ``re.match`` in place of ``re.fullmatch`` in ``amistate.core.arns``, each of
these would be accepted as build ``1.0.0/3``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from amistate.cli.main import main
from amistate.errors import MalformedEvent
from amistate.testing.events import sqs_event, sqs_record
from tests.shims.conftest import PIPELINE, Aws
from tests.shims.fakes import ACCOUNT, REGION, sample

BUILD = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0/3"
#: What follows a valid build ARN; each makes it invalid.
TRAILERS = {
    "letters": "xyz",
    "a slash": "/",
    "a newline": "\n",
    "a space": " ",
    "another segment": "/4",
    "a query": "?x=1",
    # Not ASCII: Python's \d would read "3\u0661" (ARABIC-INDIC DIGIT ONE) as build 31.
    "a non-ASCII digit": "\u0661",
}


def decisions(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "amistate"]


@pytest.fixture
def world(aws: Aws, caplog: pytest.LogCaptureFixture) -> Aws:
    caplog.set_level(logging.INFO, logger="amistate")
    aws.deploy(start_build="false")
    aws.images.add_image(BUILD, PIPELINE, {REGION: "ami-0a1b2c3d4e5f60718"})
    caplog.clear()
    return aws


def _unchanged(world: Aws, before: list[dict[str, Any]]) -> None:
    assert world.items() == before
    assert world.parameter() is None
    assert world.images.calls == []  # refused before any call


@pytest.mark.parametrize("trailer", list(TRAILERS.values()), ids=list(TRAILERS))
def test_eventbridge_resource_with_trailing_characters_is_refused(
    world: Aws, caplog: pytest.LogCaptureFixture, trailer: str
) -> None:
    event = sample("eventbridge-image-state-change-available.json")
    event["resources"] = [BUILD + trailer]
    before = world.items()
    with pytest.raises(MalformedEvent, match=r"^\$\.resources\[0\]: not an Image Builder image"):
        world.invoke(event)
    (line,) = decisions(caplog)
    assert (line["decision"], line["path"]) == ("malformed", "$.resources[0]")
    _unchanged(world, before)


@pytest.mark.parametrize("trailer", list(TRAILERS.values()), ids=list(TRAILERS))
def test_notification_arn_with_trailing_characters_is_refused_by_sns_and_sqs(
    world: Aws, caplog: pytest.LogCaptureFixture, trailer: str
) -> None:
    event = sample("sns-image-notification-available.json")
    envelope = event["Records"][0]["Sns"]
    image = json.loads(envelope["Message"])
    image["arn"] = BUILD + trailer
    envelope["Message"] = json.dumps(image)
    before = world.items()
    with pytest.raises(MalformedEvent, match=r"^\$\.Records\[0\]\.Sns\.Message\.arn: not an"):
        world.invoke(event)

    raw = sqs_event(sqs_record(image, message_id="m-raw"))
    assert world.invoke(raw) == {"batchItemFailures": [{"itemIdentifier": "m-raw"}]}
    paths = [(line["decision"], line["path"]) for line in decisions(caplog)]
    assert paths == [
        ("malformed", "$.Records[0].Sns.Message.arn"),
        ("malformed", "$.Records[0].body.arn"),
    ]
    _unchanged(world, before)


@pytest.mark.parametrize("trailer", ["/", "/x", "\n", " "], ids=repr)
def test_notification_pipeline_arn_with_trailing_characters_is_refused(
    world: Aws, trailer: str
) -> None:
    event = sample("sns-image-notification-available.json")
    envelope = event["Records"][0]["Sns"]
    image = json.loads(envelope["Message"])
    image["sourcePipelineArn"] += trailer
    envelope["Message"] = json.dumps(image)
    before = world.items()
    with pytest.raises(MalformedEvent, match=r"Message\.sourcePipelineArn: not an Image Builder"):
        world.invoke(event)
    _unchanged(world, before)


@pytest.mark.parametrize("trailer", list(TRAILERS.values()), ids=list(TRAILERS))
def test_pin_to_a_build_arn_with_trailing_characters_is_a_usage_error(
    world: Aws, capsys: pytest.CaptureFixture[str], trailer: str
) -> None:
    before = world.items()
    capsys.readouterr()
    assert main(["pin", "linux-x64", BUILD + trailer]) == 2
    assert "AMI_ID|BUILD_ARN" in capsys.readouterr().err
    _unchanged(world, before)
