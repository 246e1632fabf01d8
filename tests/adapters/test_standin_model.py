"""The shared Image Builder stand-in speaks botocore's ``imagebuilder`` model.

Every answer it gives is parsed by botocore's own REST-JSON parser against the
operation's output shape, and the request fields it reads are members of the
operation's input shape, so the demo and the tests cannot drift from AWS.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
import pytest
from amistate_adapters.pipeline_images import ImageBuilderPipelineImages

from amistate.core.amis import Amis
from amistate.testing import ImageBuilderStandIn

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


def _shape_members(client: Any, operation: str, *path: str) -> set[str]:
    """The members of a nested output shape (``path``: member names; lists step in)."""
    shape = client.meta.service_model.operation_model(operation).output_shape
    for name in path:
        shape = shape.members[name]
        while shape.type_name == "list":
            shape = shape.member
    return set(shape.members)


START = datetime(2024, 1, 18, 17, 21, 3, 113000, tzinfo=UTC)


def _builds(standin: ImageBuilderStandIn, count: int) -> list[str]:
    """``count`` builds started an hour apart, finished 40 minutes after their start."""
    arns = []
    for n in range(count):
        created = START + timedelta(hours=n)
        arn = standin.new_build(PIPELINE, created)
        status = "FAILED" if n % 3 == 2 else "AVAILABLE"
        amis = {} if status == "FAILED" else {"us-west-2": f"ami-{n:017x}"}
        standin.finish(arn, status, amis, finished=created + timedelta(minutes=40))
        arns.append(arn)
    return arns


def test_get_image_gives_date_created_and_the_account_of_each_ami(
    standin: ImageBuilderStandIn, aws_env: None
) -> None:
    client = _client(standin.url)
    (build,) = _builds(standin, 1)
    image = client.get_image(imageBuildVersionArn=build)["image"]
    assert image["dateCreated"] == "2024-01-18T17:21:03.113Z"
    assert image["outputResources"]["amis"] == [
        {
            "region": "us-west-2",
            "image": "ami-00000000000000000",
            "name": "spot-runner-linux-x64 1.0.0/1",
            "accountId": "111122223333",
            "state": {"status": "AVAILABLE"},
        }
    ]
    assert set(image["outputResources"]["amis"][0]) <= _shape_members(
        client, "GetImage", "image", "outputResources", "amis"
    )


def test_list_image_pipeline_images_pages_newest_first(
    standin: ImageBuilderStandIn, aws_env: None
) -> None:
    client = _client(standin.url)
    assert {"imagePipelineArn", "maxResults", "nextToken"} <= _members(
        client, "ListImagePipelineImages", "input_shape"
    )
    arns = _builds(standin, 5)
    seen: list[dict[str, Any]] = []
    pages = 0
    token: str | None = None
    while True:
        extra = {"nextToken": token} if token else {}
        page = client.list_image_pipeline_images(imagePipelineArn=PIPELINE, maxResults=2, **extra)
        pages += 1
        assert set(page) - {"ResponseMetadata"} <= _members(
            client, "ListImagePipelineImages", "output_shape"
        )
        seen.extend(page["imageSummaryList"])
        token = page.get("nextToken")
        if token is None:
            break
    assert pages == 3
    assert [entry["arn"] for entry in seen] == arns[::-1]
    summary_members = _shape_members(client, "ListImagePipelineImages", "imageSummaryList")
    wanted = {"arn", "name", "version", "type", "owner", "state", "dateCreated"}
    for entry in seen:
        assert wanted | {"outputResources", "buildType"} <= set(entry) <= summary_members
        assert entry["owner"] == "111122223333"
        assert entry["type"] == "AMI"
        assert entry["buildType"] in ("SCHEDULED", "USER_INITIATED")
    assert seen[-1]["dateCreated"] == "2024-01-18T17:21:03.113Z"
    assert seen[2]["state"] == {"status": "FAILED"}
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.list_image_pipeline_images(imagePipelineArn=PIPELINE.replace("x64", "other"))
    with pytest.raises(client.exceptions.InvalidPaginationTokenException):
        client.list_image_pipeline_images(imagePipelineArn=PIPELINE, nextToken="bogus")


def test_list_workflow_executions_gives_start_and_end_times(
    standin: ImageBuilderStandIn, aws_env: None
) -> None:
    client = _client(standin.url)
    assert "imageBuildVersionArn" in _members(client, "ListWorkflowExecutions", "input_shape")
    (done,) = _builds(standin, 1)
    running = standin.new_build(PIPELINE, START + timedelta(hours=2))
    answer = client.list_workflow_executions(imageBuildVersionArn=done)
    assert set(answer) - {"ResponseMetadata"} <= _members(
        client, "ListWorkflowExecutions", "output_shape"
    )
    assert answer["imageBuildVersionArn"] == done
    workflows = answer["workflowExecutions"]
    members = _shape_members(client, "ListWorkflowExecutions", "workflowExecutions")
    assert all(set(w) <= members for w in workflows)
    assert [w["type"] for w in workflows] == ["BUILD", "TEST"]
    assert workflows[-1]["endTime"] == "2024-01-18T18:01:03.113Z"
    still = client.list_workflow_executions(imageBuildVersionArn=running)["workflowExecutions"]
    assert [("endTime" in w, w["status"]) for w in still] == [(False, "RUNNING")]
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.list_workflow_executions(imageBuildVersionArn=done.replace("/1.0.0/1", "/9.9.9/9"))


def test_the_adapter_reads_the_standin(standin: ImageBuilderStandIn, aws_env: None) -> None:
    """The reconciler's adapter, over the wire: pages, order, AMIs, end times."""
    listing = ImageBuilderPipelineImages(_client(standin.url), page_size=2)
    arns = _builds(standin, 5)
    builds = list(listing.builds(PIPELINE, None))
    assert [b.arn for b in builds] == arns[::-1]
    assert [b.created for b in builds][-1] == START
    assert builds[0].amis == Amis.of({"us-west-2": "ami-00000000000000004"})
    recent = list(listing.builds(PIPELINE, START + timedelta(hours=3)))
    assert [b.arn for b in recent] == arns[:2:-1]
    assert listing.finished_at(arns[0]) == START + timedelta(minutes=40)
    assert listing.skipped == 0


def test_a_lost_event_is_a_finished_build_without_an_event(standin: ImageBuilderStandIn) -> None:
    delivered = standin.new_build(PIPELINE, START)
    lost = standin.new_build(PIPELINE, START + timedelta(hours=1))
    standin.finish(delivered, "AVAILABLE", {"us-west-2": "ami-0a1b2c3d4e5f60718"})
    standin.finish(lost, "FAILED", deliver=False)
    (event,) = standin.take_events()
    assert event["resources"] == [delivered]
    assert event["detail"]["state"] == {"status": "AVAILABLE"}
    assert standin.take_events() == []
    assert standin.get_image(lost) is not None
