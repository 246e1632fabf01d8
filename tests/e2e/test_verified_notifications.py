"""Issue 20, point 4: a notification is believed only as far as Image Builder confirms it.

Through the public state Lambda (``amistate.shims.lambda_handler.handler``) on
moto's server, with the shared Image Builder stand-in as the truth. A forged
notification (a build Image Builder never made; a real build with another AMI;
a real build started in 2099; a failed build claimed AVAILABLE) arrives by SNS,
by SQS in an SNS envelope and by SQS as a raw message: it writes nothing to
DynamoDB or SSM, is counted in ``RejectedNotifications`` and logged with the
field it got wrong, is not retried, and a genuine build afterwards is applied.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from amistate.shims import runtime
from amistate.testing.events import sqs_event, sqs_record
from tests.shims.conftest import PIPELINE, Aws
from tests.shims.fakes import ACCOUNT, REGION, sample

IMAGE = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0"
EARLIER, REAL, FAILED, LATER = (f"{IMAGE}/{n}" for n in (2, 3, 4, 5))
UNKNOWN = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-linux-x64/9.0.0/1"
AMI = {
    EARLIER: "ami-0000000000000000e",
    REAL: "ami-0a1b2c3d4e5f60718",
    LATER: "ami-0000000000000000f",
}
FORGED_AMI = "ami-0badbadbadbadbad0"
STARTED = {
    EARLIER: datetime(2024, 1, 17, 9, 0, 0, tzinfo=UTC),
    REAL: datetime(2024, 1, 18, 17, 21, 3, tzinfo=UTC),
    FAILED: datetime(2024, 1, 19, 3, 40, 0, tzinfo=UTC),
    LATER: datetime(2024, 1, 20, 6, 0, 0, tzinfo=UTC),
}


def _spelled(when: datetime) -> str:
    """``dateCreated`` as Image Builder's notification spells it: ``Jan 18, 2024 5:21:03 PM``."""
    hour = when.hour % 12 or 12
    half = "PM" if when.hour >= 12 else "AM"
    return f"{when:%b} {when.day}, {when.year} {hour}:{when:%M:%S} {half}"


def notification(build: str, status: str, ami: str | None, started: datetime) -> dict[str, Any]:
    """Image Builder's notification (the Image object) as the SNS sample carries it."""
    envelope = sample("sns-image-notification-available.json")["Records"][0]["Sns"]
    image: dict[str, Any] = json.loads(envelope["Message"])
    image.update(arn=build, state={"status": status}, dateCreated=_spelled(started))
    amis = [] if ami is None else [{"region": REGION, "image": ami, "accountId": ACCOUNT}]
    image["outputResources"] = {"amis": amis}
    return image


def genuine(build: str) -> dict[str, Any]:
    return notification(build, "AVAILABLE", AMI[build], STARTED[build])


#: Each forgery, and the field of the Image object the rejection names.
FORGERIES: dict[str, tuple[dict[str, Any], str]] = {
    "a build Image Builder never made": (
        notification(UNKNOWN, "AVAILABLE", FORGED_AMI, datetime(2099, 1, 1, tzinfo=UTC)),
        "arn",
    ),
    "a real build with another AMI": (
        notification(REAL, "AVAILABLE", FORGED_AMI, STARTED[REAL]),
        "outputResources.amis",
    ),
    "a real build started in 2099": (
        notification(REAL, "AVAILABLE", AMI[REAL], datetime(2099, 12, 31, 23, 59, tzinfo=UTC)),
        "dateCreated",
    ),
    "a failed build claimed AVAILABLE": (
        notification(FAILED, "AVAILABLE", FORGED_AMI, STARTED[FAILED]),
        "state.status",
    ),
}


def by_sns(image: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = sample("sns-image-notification-available.json")
    event["Records"][0]["Sns"]["Message"] = json.dumps(image)
    return event


def _sqs(body: Any) -> dict[str, Any]:
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:amistate-notifications"
    return sqs_event(sqs_record(body, message_id="m-1", sent=1705600257204, queue_arn=queue))


def by_sqs_envelope(image: dict[str, Any]) -> dict[str, Any]:
    return _sqs(by_sns(image)["Records"][0]["Sns"])


def by_sqs_raw(image: dict[str, Any]) -> dict[str, Any]:
    return _sqs(image)


PATHS: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], Any]] = {
    # how the notification arrives, and what the handler answers when all is handled
    "SNS": (by_sns, None),
    "SQS, SNS envelope": (by_sqs_envelope, {"batchItemFailures": []}),
    "SQS, raw message": (by_sqs_raw, {"batchItemFailures": []}),
}


def emitted(out: str, name: str) -> float:
    """The sum of metric ``name`` over the EMF documents printed in ``out``."""
    total = 0.0
    for line in out.splitlines():
        if line.startswith('{"_aws"'):
            total += json.loads(line).get(name, 0)
    return total


def decisions(caplog: pytest.LogCaptureFixture) -> list[tuple[int, dict[str, Any]]]:
    lines = [r for r in caplog.records if r.name == "amistate"]
    return [(r.levelno, json.loads(r.getMessage())) for r in lines]


@pytest.fixture
def world(aws: Aws, caplog: pytest.LogCaptureFixture) -> Aws:
    """One preset deployed; Image Builder holds builds 2, 3 (good), 4 (failed) and 5
    (good, the newest); build 2 has been applied, so the record and SSM hold its AMI."""
    caplog.set_level(logging.INFO, logger="amistate")
    aws.deploy(start_build="false")
    for build in (EARLIER, REAL, LATER):
        aws.images.add_image(build, PIPELINE, {REGION: AMI[build]}, created=STARTED[build])
    aws.images.add_image(FAILED, PIPELINE, {}, status="FAILED", created=STARTED[FAILED])
    assert aws.invoke(by_sns(genuine(EARLIER))) is None
    assert aws.parameter_json()["amiId"] == AMI[EARLIER]
    caplog.clear()
    return aws


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_forged_notification_writes_nothing_is_counted_and_a_genuine_build_still_lands(
    world: Aws,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    forgery: str,
    path: str,
) -> None:
    image, field = FORGERIES[forgery]
    deliver, handled = PATHS[path]
    items, parameter = world.items(), world.parameter()
    capsys.readouterr()

    # Consumed, not failed: a retry would meet the same answer from Image Builder.
    assert world.invoke(deliver(image)) == handled

    assert world.items() == items  # nothing in DynamoDB, not even a history entry
    assert world.parameter() == parameter  # SSM untouched (same value, same version)
    assert emitted(capsys.readouterr().out, "RejectedNotifications") == 1
    ((level, line),) = decisions(caplog)
    assert (level, line["decision"], line["buildId"]) == (logging.WARNING, "rejected", image["arn"])
    assert line["note"].startswith(f"{field}:"), line["note"]
    assert line["service"] == "amistate" and line["function_request_id"]

    # Image Builder's next genuine build is applied, whatever the forgery claimed.
    caplog.clear()
    assert world.invoke(deliver(genuine(LATER))) == handled
    ((_, line),) = decisions(caplog)
    assert line["decision"] == "applied"
    assert world.parameter_json()["amiId"] == AMI[LATER]
    item = world.item()
    assert item is not None and item["amiId"] == {"S": AMI[LATER]}
    assert FORGED_AMI not in json.dumps(world.items())


def test_a_genuine_notification_costs_one_getimage_and_is_applied(
    world: Aws, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the EventBridge path costs cold (docs/performance.md): GetImage, the mapping,
    the conditional write, SSM read and write, the confirming read."""
    runtime.reset()  # a cold container: no cached pipeline mapping
    world.images.calls.clear()
    assert world.invoke(by_sns(genuine(REAL))) is None
    assert world.images.calls == [("GetImage", REAL)]
    ((_, line),) = decisions(caplog)
    assert (line["decision"], line["awsCalls"]) == ("applied", 6)
    assert world.parameter_json()["amiId"] == AMI[REAL]
    assert emitted(capsys.readouterr().out, "RejectedNotifications") == 0


def test_a_rejected_record_does_not_fail_its_sqs_batch(
    world: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    """One forged and one genuine message in one batch: only the genuine one is applied,
    and neither is named in batchItemFailures (the forged one would only come back)."""
    forged = _sqs(FORGERIES["a real build started in 2099"][0])
    batch = _sqs(genuine(LATER))
    batch["Records"][0]["messageId"] = "m-2"
    batch["Records"].insert(0, forged["Records"][0])
    assert world.invoke(batch) == {"batchItemFailures": []}
    by_id = {line["messageId"]: line["decision"] for _, line in decisions(caplog)}
    assert by_id == {"m-1": "rejected", "m-2": "applied"}
    assert world.parameter_json()["amiId"] == AMI[LATER]
