"""The shared Image Builder stand-in speaks botocore's ``imagebuilder`` model.

Every answer it gives is parsed by botocore's own REST-JSON parser against the
operation's output shape, and the request fields it reads are members of the
operation's input shape, so the demo and the tests cannot drift from AWS.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest

from amistate.demo.standin import ImageBuilderStandIn

PIPELINE = "arn:aws:imagebuilder:us-west-2:111122223333:image-pipeline/spot-runner-linux-x64"


@pytest.fixture
def standin() -> Iterator[ImageBuilderStandIn]:
    with ImageBuilderStandIn(strict=True) as ib:
        ib.pipelines.add(PIPELINE)
        yield ib


def _client(url: str) -> Any:
    session = botocore.session.get_session()
    return session.create_client(
        "imagebuilder",
        region_name="us-west-2",
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _members(client: Any, operation: str, which: str) -> set[str]:
    model = client.meta.service_model.operation_model(operation)
    return set(getattr(model, which).members)


def test_answers_parse_against_the_model(standin: ImageBuilderStandIn, aws_env: None) -> None:
    client = _client(standin.url)
    assert {"imagePipelineArn", "clientToken"} <= _members(
        client, "StartImagePipelineExecution", "input_shape"
    )
    started = client.start_image_pipeline_execution(imagePipelineArn=PIPELINE, clientToken="t1")
    assert (
        set(started) - {"ResponseMetadata"}
        == {
            "requestId",
            "clientToken",
            "imageBuildVersionArn",
        }
        <= _members(client, "StartImagePipelineExecution", "output_shape")
    )
    build = started["imageBuildVersionArn"]
    standin.finish(build, "AVAILABLE", {"us-west-2": "ami-0a1b2c3d4e5f60718"})
    image = client.get_image(imageBuildVersionArn=build)["image"]
    image_shape = client.meta.service_model.operation_model("GetImage").output_shape
    assert set(image) <= set(image_shape.members["image"].members)
    assert image["outputResources"]["amis"][0]["image"] == "ami-0a1b2c3d4e5f60718"
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_image(imageBuildVersionArn=build.replace("/1.0.0/1", "/1.0.0/9"))
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.start_image_pipeline_execution(
            imagePipelineArn=PIPELINE.replace("linux-x64", "other"), clientToken="t2"
        )
