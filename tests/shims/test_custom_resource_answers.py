"""The raw custom resource always answers exactly once: deadline timer, failing ResponseURL,
errors, misconfiguration. The ports are in-memory here (some block on purpose); the
AWS-backed behaviour is in test_contract_custom_resource.py."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from amistate_adapters.memory import (
    MemoryImageCatalog,
    MemoryParameterStore,
    MemoryPipelineStarter,
    MemoryPresetCatalog,
    MemoryStateStore,
    MemoryTable,
)

from amistate.core.settings import Settings
from amistate.ports import Ports
from amistate.shims import custom_resource, runtime
from amistate.shims.response import PutPolicy
from tests.shims.fakes import ACCOUNT, REGION, Context, ResponseServer, running

PIPELINE = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image-pipeline/spot-runner-linux-x64"
STACK = (
    f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/runners/6f0b2c10-b5a0-11ee-8f29-0a1b2c3d4e5f"
)


class BlockingStarter(MemoryPipelineStarter):
    """Starts a build only once the test releases it."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def start(self, pipeline_arn: str, client_token: str) -> str:
        self.entered.set()
        self.release.wait(timeout=30)
        return super().start(pipeline_arn, client_token)


class BrokenStarter(MemoryPipelineStarter):
    def start(self, pipeline_arn: str, client_token: str) -> str:
        raise ConnectionError("imagebuilder unreachable: " + "x" * 8000)


@pytest.fixture
def server() -> Iterator[ResponseServer]:
    with running(ResponseServer()) as s:
        yield s


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[MemoryTable]:
    monkeypatch.setattr(custom_resource, "POLICY", PutPolicy(timeout=1.0, attempts=3, backoff=0.01))
    yield MemoryTable()
    runtime.reset()


def install(table: MemoryTable, starter: MemoryPipelineStarter) -> None:
    runtime.configure(
        runtime.from_ports(
            Settings(home_region=REGION, account=ACCOUNT),
            Ports(
                states=MemoryStateStore(table),
                catalog=MemoryPresetCatalog(table),
                images=MemoryImageCatalog(),
                parameters={REGION: MemoryParameterStore(REGION)},
                starter=starter,
            ),
        )
    )


def request(server: ResponseServer, kind: str = "Create", **props: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "RequestType": kind,
        "ServiceToken": "arn:aws:lambda:us-west-2:111122223333:function:amistate-cr",
        "ResponseURL": server.response_url(),
        "StackId": STACK,
        "RequestId": "8d1f3a52-ffd2-4b8e-9a4b-1c2d3e4f5a6b",
        "LogicalResourceId": "LinuxPreset",
        "ResourceType": "Custom::AmistatePreset",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:us-west-2:111122223333:function:amistate-cr",
            "PresetName": "linux-x64",
            "PipelineArn": PIPELINE,
            "Config": json.dumps({"timeout": 3600}),
            **props,
        },
    }
    if kind != "Create":
        event["PhysicalResourceId"] = "amistate:linux-x64"
    return event


def call_in_thread(event: dict[str, Any], context: Context) -> threading.Thread:
    thread = threading.Thread(target=custom_resource.handler, args=(event, context), daemon=True)
    thread.start()
    return thread


def test_deadline_timer_answers_failed_once_while_the_work_hangs(
    server: ResponseServer, table: MemoryTable
) -> None:
    starter = BlockingStarter()
    install(table, starter)
    thread = call_in_thread(request(server), Context(remaining_ms=800))
    answer = server.received.get(timeout=10)
    assert answer.body["Status"] == "FAILED"
    assert "did not finish Create in time (last step: create)" in answer.body["Reason"]
    assert "[log stream 2024/01/18/[$LATEST]0123456789abcdef]" in answer.body["Reason"]
    # Writes may have happened: the real ID, so CloudFormation's Delete cleans up.
    assert answer.body["PhysicalResourceId"] == "amistate:linux-x64"
    assert starter.entered.is_set()
    starter.release.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert server.all_received() == []  # the late SUCCESS was never sent
    assert server.attempt_count() == 1


def test_invalid_create_answers_failed_with_a_placeholder_id_and_writes_nothing(
    server: ResponseServer, table: MemoryTable
) -> None:
    starter = MemoryPipelineStarter()
    install(table, starter)
    custom_resource.handler(request(server, PresetName="../etc"), Context())
    (answer,) = server.all_received()
    assert answer.body["Status"] == "FAILED"
    assert "PresetName: invalid preset name '../etc'" in answer.body["Reason"]
    # Nothing was written: an ID that the Delete after this failed Create ignores.
    assert answer.body["PhysicalResourceId"].startswith("amistate-failed:")
    assert (table.records, table.pipelines, starter.builds) == ({}, {}, [])


def test_an_exception_becomes_failed_with_a_reason_cut_to_fit(
    server: ResponseServer, table: MemoryTable
) -> None:
    install(table, BrokenStarter())
    custom_resource.handler(request(server), Context())
    (answer,) = server.all_received()
    assert answer.body["Status"] == "FAILED"
    assert len(answer.raw) <= 4096
    assert "ConnectionError: imagebuilder unreachable" in answer.body["Reason"]
    assert answer.body["Reason"].endswith("[...]")


def test_response_url_failing_then_ok_delivers_once(
    server: ResponseServer, table: MemoryTable
) -> None:
    install(table, MemoryPipelineStarter())
    server.script = [500, 502]
    custom_resource.handler(request(server), Context())
    (answer,) = server.all_received()
    assert answer.body["Status"] == "SUCCESS"
    assert server.attempt_count() == 3


def test_response_url_always_failing_ends_the_invocation(
    server: ResponseServer, table: MemoryTable
) -> None:
    install(table, MemoryPipelineStarter())
    server.default = 500
    custom_resource.handler(request(server), Context())
    assert server.all_received() == []
    assert server.attempt_count() == custom_resource.POLICY.attempts


def test_response_url_hanging_times_out_and_ends_the_invocation(
    server: ResponseServer, table: MemoryTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(table, MemoryPipelineStarter())
    monkeypatch.setattr(custom_resource, "POLICY", PutPolicy(timeout=0.2, attempts=2))
    server.default = "hang"
    started = time.monotonic()
    custom_resource.handler(request(server), Context())
    assert time.monotonic() - started < 5
    assert server.attempt_count() == 2


def test_missing_table_setting_answers_failed_naming_it(
    server: ResponseServer, table: MemoryTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime.reset()
    monkeypatch.delenv("AMISTATE_TABLE", raising=False)
    monkeypatch.setenv("AWS_REGION", REGION)
    custom_resource.handler(request(server), Context())
    (answer,) = server.all_received()
    assert answer.body["Status"] == "FAILED"
    assert "AMISTATE_TABLE is not set" in answer.body["Reason"]


def test_delete_of_a_failed_create_needs_no_configuration(
    server: ResponseServer, table: MemoryTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime.reset()
    monkeypatch.delenv("AMISTATE_TABLE", raising=False)
    event = request(server, "Delete", PresetName="bad/name")
    event["PhysicalResourceId"] = "amistate-failed:8d1f3a52"
    custom_resource.handler(event, Context())
    (answer,) = server.all_received()
    assert answer.body["Status"] == "SUCCESS"
    assert answer.body["PhysicalResourceId"] == "amistate-failed:8d1f3a52"


def test_unknown_request_type_fails(server: ResponseServer, table: MemoryTable) -> None:
    install(table, MemoryPipelineStarter())
    custom_resource.handler(request(server, "Replace"), Context())
    (answer,) = server.all_received()
    assert answer.body["Status"] == "FAILED"
    assert "RequestType" in answer.body["Reason"]


def test_on_event_raises_instead_of_answering(table: MemoryTable) -> None:
    install(table, MemoryPipelineStarter())
    event = {
        "RequestType": "Create",
        "StackId": STACK,
        "RequestId": "r",
        "LogicalResourceId": "L",
        "ResourceProperties": {"PresetName": "ok", "PipelineArn": PIPELINE, "Config": "[]"},
    }
    with pytest.raises(ValueError, match="Config: expected a JSON object, got list"):
        custom_resource.on_event(event, Context())
    assert table.records == {}  # validated before anything was written
