"""Fixtures of the shim tests: a Lambda-like environment over moto's server.

``aws`` gives each test a clean world on the shared moto server of
tests/servers.py (``moto_table``: reset, a fresh table), the
environment variables the shims read (``AMISTATE_TABLE``, ``AWS_REGION``,
``AWS_ENDPOINT_URL`` -> moto, ``AWS_ENDPOINT_URL_IMAGEBUILDER`` -> a local
Image Builder fake), a ResponseURL server, and no cached runtime or clients,
so each test's first invocation builds the real env-based wiring.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from amistate_adapters import clients

from amistate.shims import custom_resource, lambda_handler, runtime
from amistate.shims.response import PutPolicy
from amistate.testing import ImageBuilderStandIn
from tests.servers import Table
from tests.shims.fakes import (
    ACCOUNT,
    REGION,
    Context,
    FlakyProxy,
    Received,
    ResponseServer,
    running,
)

PIPELINE = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image-pipeline/spot-runner-linux-x64"
STACK = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/runners/6f0b2c10-b5a0-11ee"
CONFIG: dict[str, Any] = {
    "instanceTypes": ["c7g.large", "c6g.large"],
    "timeout": 3600,
    "spot": True,
    "labels": ["arm64", "linux"],
    "maxPrice": 0.085,
    "subnets": {"a": "subnet-1", "b": None},
    "secretToken": "s3cr3t-never-logged",
}


@pytest.fixture(scope="session")
def imagebuilder_fake() -> Iterator[ImageBuilderStandIn]:
    with running(ImageBuilderStandIn(strict=True)) as fake:
        yield fake


class Aws:
    """The world of one test, and how Lambda and CloudFormation would call the shims."""

    def __init__(
        self, table: Table, images: ImageBuilderStandIn, responses: ResponseServer
    ) -> None:
        self.table = table.name
        self.images = images
        self.responses = responses
        self.ddb = table.client
        self.ssm = table.endpoint.client("ssm")
        self.requests = 0

    # --- CloudFormation ---------------------------------------------------------------

    def resource_event(
        self,
        kind: str = "Create",
        *,
        preset: str = "linux-x64",
        pipeline: str = PIPELINE,
        config: dict[str, Any] | str | None = None,
        start_build: str | None = None,
        old: dict[str, Any] | None = None,
        physical_id: str | None = None,
        request_id: str | None = None,
        ami_parameter: str | None = None,
    ) -> dict[str, Any]:
        self.requests += 1
        props: dict[str, Any] = {
            "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:amistate-preset",
            "PresetName": preset,
            "PipelineArn": pipeline,
            "Config": config if isinstance(config, str) else json.dumps(config or CONFIG),
        }
        if start_build is not None:
            props["StartBuild"] = start_build
        if ami_parameter is not None:
            props["AmiParameter"] = ami_parameter
        event: dict[str, Any] = {
            "RequestType": kind,
            "ServiceToken": props["ServiceToken"],
            "ResponseURL": self.responses.response_url(),
            "StackId": STACK,
            "RequestId": request_id or f"0c7e9a44-0000-4000-8000-{self.requests:012d}",
            "LogicalResourceId": "LinuxPreset",
            "ResourceType": "Custom::AmistatePreset",
            "ResourceProperties": props,
        }
        if kind != "Create":
            event["PhysicalResourceId"] = physical_id or f"amistate:{preset}"
        if old is not None:
            event["OldResourceProperties"] = old
        return event

    def send(self, event: dict[str, Any], context: Context | None = None) -> Received:
        """Invoke the raw custom resource; return the one answer CloudFormation got."""
        custom_resource.handler(event, context or Context(function_name="amistate-preset"))
        answers = self.responses.all_received()
        assert len(answers) == 1, answers
        return answers[0]

    def deploy(self, **kwargs: Any) -> Received:
        answer = self.send(self.resource_event("Create", **kwargs))
        assert answer.body["Status"] == "SUCCESS", answer.body
        return answer

    # --- Lambda -------------------------------------------------------------------------

    def invoke(self, event: Any, context: Context | None = None) -> Any:
        return lambda_handler.handler(event, context or Context())

    # --- raw reads ----------------------------------------------------------------------

    def item(self, preset: str = "linux-x64") -> dict[str, Any] | None:
        answer = self.ddb.get_item(
            TableName=self.table,
            Key={"PK": {"S": f"AMI#{preset}"}, "SK": {"S": "LATEST"}},
            ConsistentRead=True,
        )
        return answer.get("Item")

    def parameter(self, preset: str = "linux-x64") -> dict[str, Any] | None:
        try:
            answer = self.ssm.get_parameter(
                Name=f"/spot-runner/configs/{preset}", WithDecryption=True
            )
        except self.ssm.exceptions.ParameterNotFound:
            return None
        return dict(answer["Parameter"])

    def parameter_json(self, preset: str = "linux-x64") -> Any:
        found = self.parameter(preset)
        return None if found is None else json.loads(found["Value"])

    def put_parameter(self, value: dict[str, Any], preset: str = "linux-x64") -> None:
        self.ssm.put_parameter(
            Name=f"/spot-runner/configs/{preset}",
            Value=json.dumps(value),
            Type="String",
            Overwrite=True,
        )

    def items(self) -> list[dict[str, Any]]:
        return list(self.ddb.scan(TableName=self.table, ConsistentRead=True).get("Items", []))


@pytest.fixture
def aws(
    moto_table: Table, imagebuilder_fake: ImageBuilderStandIn, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Aws]:
    """moto reset, a fresh table, and the environment of a deployed amistate function."""
    imagebuilder_fake.reset()
    for name in ("AMISTATE_PARAMETER_PREFIX", "AMISTATE_EXTRA_REGIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_table.endpoint.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_IMAGEBUILDER", imagebuilder_fake.url)
    monkeypatch.setenv("AMISTATE_TABLE", moto_table.name)
    monkeypatch.setattr(custom_resource, "POLICY", PutPolicy(timeout=2.0, attempts=3, backoff=0.01))
    imagebuilder_fake.pipelines.add(PIPELINE)
    runtime.reset()
    clients.clear()
    with running(ResponseServer()) as responses:
        try:
            yield Aws(moto_table, imagebuilder_fake, responses)
        finally:
            runtime.reset()
            clients.clear()


@pytest.fixture
def ssm_proxy(moto_table: Table) -> Iterator[FlakyProxy]:
    """A proxy to moto that answers 503 while ``down`` is set (an SSM outage)."""
    with running(FlakyProxy(moto_table.endpoint.url)) as proxy:
        yield proxy
