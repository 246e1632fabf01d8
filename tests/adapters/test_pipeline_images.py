"""PipelineImages: Image Builder's list of a pipeline's builds, and when a build ended.

Two layers:

* ``ImageBuilderPipelineImages`` on a real botocore client with ``Stubber``
  (requests and responses validated against the service model): the samples,
  pagination, the ``since`` stop rule (counted calls), the account filter,
  malformed entries and errors.
* The same behaviour on the adapter and on ``MemoryPipelineImages``: the kit's
  Image Builder stand-in (:class:`amistate.testing.ImageBuilderStandIn`, over HTTP,
  its shapes checked against the model in ``tests/adapters/test_standin_model.py``)
  serves the adapter the builds the memory fake holds.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from amistate_adapters.errors import AwsRequestRejected
from amistate_adapters.memory_inventory import MemoryPipelineImages
from amistate_adapters.pipeline_images import (
    ImageBuilderPipelineImages,
    UnknownPipeline,
    build_summary,
)
from attrs import frozen
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from amistate.core.amis import NO_AMIS, Amis, Place
from amistate.errors import AmistateError
from amistate.ports.inventory import BuildSummary, PipelineImages
from amistate.testing.shapes import iso
from amistate.testing.standin import ImageBuilderStandIn

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
ACCOUNT = "111122223333"
PIPELINE = f"arn:aws:imagebuilder:us-west-2:{ACCOUNT}:image-pipeline/spot-runner-linux-x64"
BUILD3 = f"arn:aws:imagebuilder:us-west-2:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0/3"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return loaded


def build_arn(n: int) -> str:
    return f"arn:aws:imagebuilder:us-west-2:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0/{n}"


def entry(n: int, created: datetime, status: str = "AVAILABLE") -> dict[str, Any]:
    """An ``imageSummaryList`` entry like the sample's, for build ``n``."""
    amis = [{"region": "us-west-2", "image": f"ami-{n:017x}", "accountId": ACCOUNT}]
    return {
        "arn": build_arn(n),
        "name": "spot-runner-linux-x64",
        "type": "AMI",
        "version": f"1.0.0/{n}",
        "owner": ACCOUNT,
        "state": {"status": status},
        "dateCreated": iso(created),
        "outputResources": {"amis": amis} if status == "AVAILABLE" else {},
    }


def expected(n: int, created: datetime, status: str = "AVAILABLE") -> BuildSummary:
    amis = Amis.of({"us-west-2": f"ami-{n:017x}"}) if status == "AVAILABLE" else NO_AMIS
    return BuildSummary(arn=build_arn(n), status=status, created=created, amis=amis)


@frozen
class Stubbed:
    client: Any
    stubber: Stubber
    calls: list[str]

    def page(
        self, entries: list[dict[str, Any]], token: str | None = None, after: str | None = None
    ) -> None:
        """Queue one ListImagePipelineImages page (``after``: the token it is asked with)."""
        response: dict[str, Any] = {"requestId": "r", "imageSummaryList": entries}
        if token:
            response["nextToken"] = token
        params: dict[str, Any] = {"imagePipelineArn": PIPELINE, "maxResults": 25}
        if after:
            params["nextToken"] = after
        self.stubber.add_response("list_image_pipeline_images", response, params)


@pytest.fixture
def stubbed(aws_env: None) -> Iterator[Stubbed]:
    client = boto3.client("imagebuilder", region_name="us-west-2")
    calls: list[str] = []

    def count(model: Any, **_: Any) -> None:
        calls.append(model.name)

    client.meta.events.register("before-parameter-build.imagebuilder", count)
    with Stubber(client) as stubber:
        yield Stubbed(client, stubber, calls)
        stubber.assert_no_pending_responses()


# ---------------------------------------------------------------- builds, on Stubber


def test_the_sample_page_parses(stubbed: Stubbed) -> None:
    response = sample("listimagepipelineimages-response.json")
    stubbed.page(response["imageSummaryList"])
    builds = list(ImageBuilderPipelineImages(stubbed.client).builds(PIPELINE, None))
    assert builds == [
        BuildSummary(
            arn=build_arn(4),
            status="FAILED",
            created=datetime(2024, 1, 25, 17, 20, 58, 402000, tzinfo=UTC),
            amis=NO_AMIS,
            reason=(
                "Workflow Execution ID: 'wf-0123' failed with reason: step 'InstallDocker' failed"
            ),
        ),
        BuildSummary(
            arn=BUILD3,
            status="AVAILABLE",
            created=datetime(2024, 1, 18, 17, 21, 3, 113000, tzinfo=UTC),
            amis=Amis.of(
                {"us-west-2": "ami-0a1b2c3d4e5f60718", "eu-west-1": "ami-0f9e8d7c6b5a40312"}
            ),
        ),
    ]
    assert builds[0].created.tzinfo is UTC


def test_three_pages_lazily_in_order(stubbed: Stubbed) -> None:
    days = [T0 + timedelta(days=d) for d in range(7)]
    stubbed.page([entry(7, days[6]), entry(6, days[5]), entry(5, days[4])], token="t1")
    stubbed.page([entry(4, days[3]), entry(3, days[2])], token="t2", after="t1")
    stubbed.page([entry(2, days[1]), entry(1, days[0])], after="t2")
    found = ImageBuilderPipelineImages(stubbed.client).builds(PIPELINE, None)
    assert stubbed.calls == []  # nothing asked before the first next()
    first = next(found)
    assert first == expected(7, days[6])
    assert stubbed.calls == ["ListImagePipelineImages"]
    rest = list(found)
    assert [b.arn for b in [first, *rest]] == [build_arn(n) for n in range(7, 0, -1)]
    assert stubbed.calls == ["ListImagePipelineImages"] * 3


def test_each_page_is_sorted_newest_first(stubbed: Stubbed) -> None:
    days = [T0 + timedelta(days=d) for d in range(4)]
    stubbed.page([entry(2, days[1]), entry(4, days[3]), entry(1, days[0]), entry(3, days[2])])
    builds = list(ImageBuilderPipelineImages(stubbed.client).builds(PIPELINE, None))
    assert [b.created for b in builds] == sorted(days, reverse=True)


def test_since_stops_after_a_whole_page_older(stubbed: Stubbed) -> None:
    since = T0 + timedelta(days=10)
    before, after = since - timedelta(hours=1), since + timedelta(hours=1)
    # Page 1 mixes old and new, unordered: not proof that the rest is old.
    stubbed.page([entry(8, before), entry(10, after + timedelta(hours=1)), entry(9, after)], "t1")
    # Page 2 is all older than since: stop here; a third page is never asked for
    # (Stubber would fail the test on an unqueued call).
    stubbed.page([entry(7, before - timedelta(days=1)), entry(6, before)], "t2", after="t1")
    builds = list(ImageBuilderPipelineImages(stubbed.client).builds(PIPELINE, since))
    assert [b.arn for b in builds] == [build_arn(10), build_arn(9)]
    assert stubbed.calls == ["ListImagePipelineImages"] * 2


def test_nothing_new_costs_one_call(stubbed: Stubbed) -> None:
    since = T0 + timedelta(days=10)
    stubbed.page([entry(3, since - timedelta(seconds=1)), entry(2, T0)], token="more")
    assert list(ImageBuilderPipelineImages(stubbed.client).builds(PIPELINE, since)) == []
    assert stubbed.calls == ["ListImagePipelineImages"]


def test_a_build_created_exactly_at_since_is_included(stubbed: Stubbed) -> None:
    since = T0 + timedelta(days=1)
    stubbed.page([entry(2, since), entry(1, T0)])
    builds = list(ImageBuilderPipelineImages(stubbed.client).builds(PIPELINE, since))
    assert builds == [expected(2, since)]


def test_empty_pages_with_a_token_are_followed(stubbed: Stubbed) -> None:
    stubbed.page([], token="t1")
    stubbed.page([entry(1, T0)], after="t1")
    builds = list(ImageBuilderPipelineImages(stubbed.client).builds(PIPELINE, T0))
    assert builds == [expected(1, T0)]


def test_every_accounts_amis_by_place(stubbed: Stubbed) -> None:
    image = sample("getimage-response-multi-account.json")["image"]
    summary = {
        key: image[key]
        for key in ("arn", "name", "type", "version", "state", "dateCreated", "outputResources")
    }
    stubbed.page([summary])
    (build,) = ImageBuilderPipelineImages(stubbed.client).builds(PIPELINE, None)
    assert build.amis.regional() == {
        "us-west-2": "ami-0a1b2c3d4e5f60718",
        "eu-west-1": "ami-0f9e8d7c6b5a40312",
    }
    assert build.amis.at("us-west-2", "444455556666") == "ami-0c4d5e6f708192a3b"
    assert Place("us-west-2", "111122223333") not in build.amis.places  # ours: no account


def test_a_failed_build_has_no_amis_and_its_reason(stubbed: Stubbed) -> None:
    failed = entry(5, T0, status="FAILED")
    failed["state"]["reason"] = "component failed"
    del failed["outputResources"]
    stubbed.page([failed])
    (build,) = ImageBuilderPipelineImages(stubbed.client).builds(PIPELINE, None)
    assert (build.status, build.amis, build.reason) == ("FAILED", NO_AMIS, "component failed")


def test_malformed_entries_are_skipped(stubbed: Stubbed) -> None:
    good = entry(1, T0)
    no_arn = {k: v for k, v in entry(2, T0).items() if k != "arn"}
    bad_arn = {**entry(3, T0), "arn": PIPELINE}
    no_state = {k: v for k, v in entry(4, T0).items() if k != "state"}
    no_status = {**entry(5, T0), "state": {"reason": "?"}}
    no_date = {k: v for k, v in entry(6, T0).items() if k != "dateCreated"}
    bad_date = {**entry(7, T0), "dateCreated": "last Tuesday"}
    odd_amis = {**entry(8, T0), "outputResources": {"amis": [{"region": "us-west-2"}]}}
    stubbed.page([no_arn, bad_arn, good, no_state, no_status, no_date, bad_date, odd_amis])
    adapter = ImageBuilderPipelineImages(stubbed.client)
    builds = list(adapter.builds(PIPELINE, None))
    assert builds == [expected(1, T0), BuildSummary(build_arn(8), "AVAILABLE", T0)]
    assert adapter.skipped == 6


def test_build_summary_refuses_what_is_not_an_entry() -> None:
    assert build_summary(None) is None
    assert build_summary(["arn"]) is None
    assert build_summary({**entry(1, T0), "dateCreated": 1705598463}) is None
    assert build_summary({**entry(1, T0), "state": "AVAILABLE"}) is None


def test_a_time_without_a_zone_is_utc() -> None:
    parsed = build_summary({**entry(1, T0), "dateCreated": "2024-01-18T17:21:03"})
    assert parsed is not None
    assert parsed.created == datetime(2024, 1, 18, 17, 21, 3, tzinfo=UTC)


def test_unknown_pipeline_is_a_permanent_error_naming_it(stubbed: Stubbed) -> None:
    stubbed.stubber.add_client_error(
        "list_image_pipeline_images",
        service_error_code="ResourceNotFoundException",
        http_status_code=404,
    )
    with pytest.raises(UnknownPipeline, match="image-pipeline/spot-runner-linux-x64") as raised:
        list(ImageBuilderPipelineImages(stubbed.client).builds(PIPELINE, None))
    assert isinstance(raised.value, AmistateError)
    assert isinstance(raised.value, LookupError)


@pytest.mark.parametrize("code", ["ValidationException", "InvalidRequestException"])
def test_invalid_requests_are_permanent(stubbed: Stubbed, code: str) -> None:
    stubbed.stubber.add_client_error(
        "list_image_pipeline_images", service_error_code=code, http_status_code=400
    )
    with pytest.raises(AwsRequestRejected):
        list(ImageBuilderPipelineImages(stubbed.client).builds(PIPELINE, None))


@pytest.mark.parametrize(
    ("code", "status"),
    [("CallRateLimitExceededException", 429), ("ServiceUnavailableException", 503)],
)
def test_transient_errors_propagate(stubbed: Stubbed, code: str, status: int) -> None:
    stubbed.stubber.add_client_error(
        "list_image_pipeline_images", service_error_code=code, http_status_code=status
    )
    with pytest.raises(ClientError) as raised:
        list(ImageBuilderPipelineImages(stubbed.client).builds(PIPELINE, None))
    assert raised.value.response["Error"]["Code"] == code
    assert not isinstance(raised.value, AmistateError)


def test_page_size_is_what_the_api_allows() -> None:
    for size in (0, 101):
        with pytest.raises(ValueError, match="page_size"):
            ImageBuilderPipelineImages(object(), page_size=size)  # type: ignore[arg-type]


# ---------------------------------------------------------------- finished_at, on Stubber


def test_finished_at_is_the_latest_workflow_end(stubbed: Stubbed) -> None:
    stubbed.stubber.add_response(
        "list_workflow_executions",
        sample("listworkflowexecutions-response.json"),
        {"imageBuildVersionArn": BUILD3},
    )
    ended = ImageBuilderPipelineImages(stubbed.client).finished_at(BUILD3)
    assert ended == datetime(2024, 1, 18, 17, 50, 50, tzinfo=UTC)


def test_finished_at_reads_every_page(stubbed: Stubbed) -> None:
    response = sample("listworkflowexecutions-response.json")
    build, test = response["workflowExecutions"]
    running = {k: v for k, v in copy.deepcopy(build).items() if k != "endTime"}
    distribution = {**copy.deepcopy(test), "type": "DISTRIBUTION"}
    distribution["endTime"] = "2024-01-18T17:58:01.000Z"
    first = {**response, "workflowExecutions": [test, running], "nextToken": "t1"}
    second = {**response, "workflowExecutions": [distribution, build]}
    stub = stubbed.stubber
    stub.add_response("list_workflow_executions", first, {"imageBuildVersionArn": BUILD3})
    stub.add_response(
        "list_workflow_executions", second, {"imageBuildVersionArn": BUILD3, "nextToken": "t1"}
    )
    ended = ImageBuilderPipelineImages(stubbed.client).finished_at(BUILD3)
    assert ended == datetime(2024, 1, 18, 17, 58, 1, tzinfo=UTC)


def test_finished_at_is_none_without_an_ended_workflow(stubbed: Stubbed) -> None:
    response = sample("listworkflowexecutions-response.json")
    response["workflowExecutions"] = [
        {k: v for k, v in w.items() if k != "endTime"} for w in response["workflowExecutions"]
    ]
    stubbed.stubber.add_response("list_workflow_executions", response)
    stubbed.stubber.add_response(
        "list_workflow_executions", {"requestId": "r", "workflowExecutions": []}
    )
    stubbed.stubber.add_client_error(
        "list_workflow_executions",
        service_error_code="ResourceNotFoundException",
        http_status_code=404,
    )
    adapter = ImageBuilderPipelineImages(stubbed.client)
    assert [adapter.finished_at(BUILD3) for _ in range(3)] == [None, None, None]


def test_finished_at_throttled_propagates(stubbed: Stubbed) -> None:
    stubbed.stubber.add_client_error(
        "list_workflow_executions",
        service_error_code="CallRateLimitExceededException",
        http_status_code=429,
    )
    with pytest.raises(ClientError):
        ImageBuilderPipelineImages(stubbed.client).finished_at(BUILD3)


# ---------------------------------------------------------------- the same behaviour, both ports


class PipelineWorld:
    """A port and a way to add builds behind it: the memory fake, or the adapter on the
    kit's Image Builder stand-in (strict: only ``PIPELINE`` exists; pages of 2)."""

    def __init__(self, port: PipelineImages, standin: ImageBuilderStandIn | None) -> None:
        self.port = port
        self.standin = standin

    @property
    def calls(self) -> list[str]:
        if self.standin is None:
            assert isinstance(self.port, MemoryPipelineImages)
            return self.port.calls
        return [operation for operation, _ in self.standin.calls]

    def add(self, n: int, created: datetime, status: str = "AVAILABLE") -> None:
        amis = {"us-west-2": f"ami-{n:017x}"} if status == "AVAILABLE" else {}
        if self.standin is None:
            assert isinstance(self.port, MemoryPipelineImages)
            self.port.add(PIPELINE, build_arn(n), status, created, amis=amis or None)
            return
        self.standin.add_image(build_arn(n), PIPELINE, amis, status, created)

    def ended(self, n: int, when: datetime) -> None:
        if self.standin is None:
            assert isinstance(self.port, MemoryPipelineImages)
            self.port.set_finished(build_arn(n), when)
            return
        image = self.standin.images[build_arn(n)]
        amis = {a["region"]: a["image"] for a in image["outputResources"]["amis"]}
        status = image["state"]["status"]
        self.standin.finish(build_arn(n), status, amis, finished=when, deliver=False)


@pytest.fixture(params=["memory", "adapter"])
def pipeline_world(request: pytest.FixtureRequest) -> Iterator[PipelineWorld]:
    if request.param == "memory":
        memory = MemoryPipelineImages(page_size=2)
        memory.add_pipeline(PIPELINE)
        yield PipelineWorld(memory, None)
        return
    with ImageBuilderStandIn(strict=True) as standin:
        standin.pipelines.add(PIPELINE)
        client = boto3.client(
            "imagebuilder",
            region_name="us-west-2",
            endpoint_url=standin.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        yield PipelineWorld(ImageBuilderPipelineImages(client, page_size=2), standin)


def test_no_builds_yet(pipeline_world: PipelineWorld) -> None:
    assert list(pipeline_world.port.builds(PIPELINE, None)) == []
    assert list(pipeline_world.port.builds(PIPELINE, T0)) == []


def test_all_builds_newest_first(pipeline_world: PipelineWorld) -> None:
    days = [T0 + timedelta(days=d) for d in range(5)]
    for n in (3, 1, 5, 2, 4):
        pipeline_world.add(n, days[n - 1], status="FAILED" if n == 2 else "AVAILABLE")
    builds = list(pipeline_world.port.builds(PIPELINE, None))
    assert builds == [
        expected(n, days[n - 1], status="FAILED" if n == 2 else "AVAILABLE")
        for n in (5, 4, 3, 2, 1)
    ]
    assert pipeline_world.calls == ["ListImagePipelineImages"] * 3


def test_since_bounds_builds_and_calls(pipeline_world: PipelineWorld) -> None:
    days = [T0 + timedelta(days=d) for d in range(7)]
    for n in range(1, 8):
        pipeline_world.add(n, days[n - 1])
    # Pages of 2: [7, 6] [5, 4] [3, 2] [1]; since = day of build 5.
    builds = list(pipeline_world.port.builds(PIPELINE, days[4]))
    assert [b.arn for b in builds] == [build_arn(7), build_arn(6), build_arn(5)]
    # [7, 6] new, [5, 4] mixed, [3, 2] all old: stop; [1] is never asked for.
    assert pipeline_world.calls == ["ListImagePipelineImages"] * 3


def test_unknown_pipeline(pipeline_world: PipelineWorld) -> None:
    other = PIPELINE.replace("linux-x64", "windows")
    with pytest.raises(UnknownPipeline, match="windows"):
        next(iter(pipeline_world.port.builds(other, None)))


def test_finished_at(pipeline_world: PipelineWorld) -> None:
    pipeline_world.add(1, T0)
    assert pipeline_world.port.finished_at(build_arn(1)) is None
    pipeline_world.ended(1, T0 + timedelta(minutes=29))
    assert pipeline_world.port.finished_at(build_arn(1)) == T0 + timedelta(minutes=29)
    assert pipeline_world.calls == ["ListWorkflowExecutions"] * 2
