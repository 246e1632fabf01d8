"""Image Builder adapters against a real botocore client with Stubber (API shapes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from amistate_adapters.errors import AwsRequestRejected, UnknownBuild
from amistate_adapters.imagebuilder import ImageBuilderCatalog, ImageBuilderPipelines
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from amistate.core.amis import NO_AMIS, Amis
from amistate.ports import ImageFacts

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
BUILD = "arn:aws:imagebuilder:us-west-2:111122223333:image/spot-runner-linux-x64/1.0.0/3"
PIPELINE = "arn:aws:imagebuilder:us-west-2:111122223333:image-pipeline/spot-runner-linux-x64"
CREATED = datetime(2024, 1, 18, 17, 21, 3, 113000, tzinfo=UTC)


@pytest.fixture
def stubbed(aws_env: None) -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("imagebuilder", region_name="us-west-2")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def sample_response() -> dict[str, Any]:
    response: dict[str, Any] = json.loads(
        (SAMPLES / "getimage-response-available.json").read_text()
    )
    return response


def test_describe_returns_amis_per_region_and_pipeline(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_response("get_image", sample_response(), {"imageBuildVersionArn": BUILD})
    facts = ImageBuilderCatalog(client).describe(BUILD)
    assert facts == ImageFacts(
        amis=Amis.of({"us-west-2": "ami-0a1b2c3d4e5f60718", "eu-west-1": "ami-0f9e8d7c6b5a40312"}),
        pipeline_arn=PIPELINE,
        status="AVAILABLE",
        created=CREATED,
    )


def test_describe_keeps_each_accounts_amis_apart(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    response = json.loads((SAMPLES / "getimage-response-multi-account.json").read_text())
    stubber.add_response("get_image", response, {"imageBuildVersionArn": BUILD})
    facts = ImageBuilderCatalog(client).describe(BUILD)
    # the us-west-2 AMI of account 444455556666 is its copy, never ours
    assert facts.amis == Amis.of(
        {"us-west-2": "ami-0a1b2c3d4e5f60718", "eu-west-1": "ami-0f9e8d7c6b5a40312"},
        copies={"444455556666": {"us-west-2": "ami-0c4d5e6f708192a3b"}},
    )


@pytest.mark.parametrize(
    ("date", "created"),
    [
        ("2024-01-18T17:21:03.113Z", datetime(2024, 1, 18, 17, 21, 3, 113000, tzinfo=UTC)),
        ("2024-01-18T19:21:03+02:00", datetime(2024, 1, 18, 17, 21, 3, tzinfo=UTC)),
        ("2024-01-18T17:21:03", datetime(2024, 1, 18, 17, 21, 3, tzinfo=UTC)),
        (None, None),
        ("yesterday", None),
    ],
)
def test_describe_reads_date_created_as_utc(
    stubbed: tuple[Any, Stubber], date: str | None, created: datetime | None
) -> None:
    client, stubber = stubbed
    response = sample_response()
    if date is None:
        del response["image"]["dateCreated"]
    else:
        response["image"]["dateCreated"] = date
    stubber.add_response("get_image", response, {"imageBuildVersionArn": BUILD})
    facts = ImageBuilderCatalog(client).describe(BUILD)
    assert facts.created == created
    if created is not None:
        assert facts.created is not None and facts.created.utcoffset() == timedelta(0)


def test_describe_of_a_failed_build_has_no_amis(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    response = sample_response()
    response["image"]["state"] = {"status": "FAILED", "reason": "component failed"}
    del response["image"]["outputResources"]
    stubber.add_response("get_image", response, {"imageBuildVersionArn": BUILD})
    facts = ImageBuilderCatalog(client).describe(BUILD)
    assert facts == ImageFacts(
        amis=NO_AMIS, pipeline_arn=PIPELINE, status="FAILED", created=CREATED
    )


def test_unknown_build_is_a_permanent_error(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_client_error(
        "get_image",
        service_error_code="ResourceNotFoundException",
        service_message="The resource does not exist.",
        http_status_code=404,
        expected_params={"imageBuildVersionArn": BUILD},
    )
    with pytest.raises(UnknownBuild, match=r"1\.0\.0/3"):
        ImageBuilderCatalog(client).describe(BUILD)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ThrottlingException", 400),
        ("CallRateLimitExceededException", 429),
        ("ServiceUnavailableException", 503),
        ("ServiceException", 500),
    ],
)
def test_transient_errors_propagate_as_client_errors(
    stubbed: tuple[Any, Stubber], code: str, status: int
) -> None:
    client, stubber = stubbed
    stubber.add_client_error("get_image", service_error_code=code, http_status_code=status)
    with pytest.raises(ClientError) as raised:
        ImageBuilderCatalog(client).describe(BUILD)
    assert raised.value.response["Error"]["Code"] == code
    assert not isinstance(raised.value, UnknownBuild)


def test_invalid_request_is_permanent(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_client_error(
        "get_image", service_error_code="InvalidRequestException", http_status_code=400
    )
    with pytest.raises(AwsRequestRejected):
        ImageBuilderCatalog(client).describe(BUILD)


def test_start_passes_the_client_token_and_returns_at_once(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    token = "amistate-linux-0123456789abcdef"
    stubber.add_response(
        "start_image_pipeline_execution",
        {"requestId": "r-1", "clientToken": token, "imageBuildVersionArn": BUILD},
        {"imagePipelineArn": PIPELINE, "clientToken": token},
    )
    assert ImageBuilderPipelines(client).start(PIPELINE, token) == BUILD


def test_start_refuses_a_token_the_api_would(stubbed: tuple[Any, Stubber]) -> None:
    client, _ = stubbed
    starter = ImageBuilderPipelines(client)
    for token in ("", "x" * 65):
        with pytest.raises(ValueError, match="clientToken"):
            starter.start(PIPELINE, token)


def test_start_throttled_propagates(stubbed: tuple[Any, Stubber]) -> None:
    client, stubber = stubbed
    stubber.add_client_error(
        "start_image_pipeline_execution",
        service_error_code="ThrottlingException",
        http_status_code=400,
    )
    with pytest.raises(ClientError) as raised:
        ImageBuilderPipelines(client).start(PIPELINE, "token")
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
