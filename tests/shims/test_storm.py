"""Issue 24, point 1: a rebuild storm through the SQS queue.

A batch holding several builds of one recipe writes the preset's parameter
once (the newest build is handled first, the older ones are stale), and the
write pace a capped-concurrency deployment sets is read and checked like every
other setting. Over moto's server and the Image Builder stand-in, through the
state Lambda's handler.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from amistate.errors import ConfigurationError
from amistate.shims import lambda_handler, runtime
from tests.shims.conftest import PIPELINE, Aws
from tests.shims.fakes import ACCOUNT, REGION, Context
from tests.shims.test_contract_lambda import AMI_3, BUILD_3, STARTED_3, available, decisions, sqs

BUILD_5 = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0/5"
AMI_5 = "ami-0c3d4e5f60718293a"
BUILD_6 = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-linux-x64/1.0.1/1"
AMI_6 = "ami-0d4e5f60718293a4b"


def test_a_batch_of_one_recipes_builds_writes_its_parameter_once(
    aws: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="amistate")
    aws.deploy(start_build="false")
    aws.images.add_image(BUILD_3, PIPELINE, {REGION: AMI_3}, created=STARTED_3)
    aws.images.add_image(
        BUILD_5, PIPELINE, {REGION: AMI_5}, created=datetime(2024, 1, 20, 3, 0, tzinfo=UTC)
    )
    aws.images.add_image(
        BUILD_6, PIPELINE, {REGION: AMI_6}, created=datetime(2024, 1, 21, 3, 0, tzinfo=UTC)
    )
    before = aws.parameter()
    versions_before = before["Version"] if before else 0
    caplog.clear()

    # Oldest first, as a queue may well deliver them.
    answer = aws.invoke(
        sqs(
            ("m-3", available(BUILD_3, "2024-01-20T03:30:00Z")),
            ("m-5", available(BUILD_5, "2024-01-20T03:30:01Z")),
            ("m-6", available(BUILD_6, "2024-01-21T03:30:00Z")),
        )
    )

    assert answer == {"batchItemFailures": []}
    assert aws.parameter_json()["amiId"] == AMI_6
    written = aws.parameter()
    assert written is not None and written["Version"] == versions_before + 1  # one write
    by_id = {line["messageId"]: line for line in decisions(caplog)}
    assert {m: line["decision"] for m, line in by_id.items()} == {
        "m-6": "applied",
        "m-5": "stale",
        "m-3": "stale",
    }
    assert [m for m, line in by_id.items() if line["parameterWritten"]] == ["m-6"]


@pytest.mark.parametrize("text", ["fast", "0", "-3", "nan", "inf", "1e9"])
def test_a_write_rate_that_is_not_a_rate_is_refused_naming_the_variable(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    aws.deploy(start_build="false")
    before = aws.parameter()
    monkeypatch.setenv("AMISTATE_SSM_WRITE_RATE", text)
    runtime.reset()  # a cold start: the runtime is built from this environment
    with pytest.raises(ConfigurationError, match="AMISTATE_SSM_WRITE_RATE"):
        lambda_handler.handler(available(), Context())
    assert aws.parameter() == before
