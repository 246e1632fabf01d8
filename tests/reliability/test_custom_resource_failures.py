"""The raw custom resource under failure: every request ends with exactly one delivered answer
or a bounded, logged give-up.

Not repeated here (tests/shims covers them): ResponseURL 500 then 200, always 500, hanging with
the work done, deadline while an in-memory port blocks, Delete of a Create that failed
validation, Create retried after success. Added here: a 403 ResponseURL after real work; the
deadline reached inside a real AWS HTTP call; a hanging ResponseURL *and* hanging work, bounded
by the deadline; Delete after a Create that failed part-way (after writes, at each AWS call);
Create redelivered after a crash at each call is in test_fault_injection.py.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from amistate_adapters.clients import client_config
from amistate_adapters.imagebuilder import ImageBuilderPipelines
from botocore.config import Config

from amistate.core.settings import Settings
from amistate.ports import Ports
from amistate.shims import custom_resource, runtime
from amistate.shims.response import PutPolicy
from tests.reliability.aws_world import AwsWorld
from tests.reliability.common import (
    ACCOUNT,
    PIPELINE,
    PRESET,
    REGION,
    MemoryWorld,
    capture_logs,
    record_figures,
)
from tests.reliability.test_fault_injection import KINDS
from tests.servers import Endpoint
from tests.shims.fakes import Context, ResponseServer, running
from tests.shims.test_custom_resource_answers import BlockingStarter


class _Seen(logging.Handler):
    """Sets an event when an amistate decision line with ``decision`` is logged."""

    def __init__(self, decision: str) -> None:
        super().__init__(logging.DEBUG)
        self.decision = decision
        self.event = threading.Event()
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "amistate":
            line = json.loads(record.getMessage())
            self.lines.append(line)
            if line.get("decision") == self.decision:
                self.event.set()


@pytest.fixture
def seen() -> Iterator[_Seen]:
    handler = _Seen("response-not-delivered")
    logger = logging.getLogger("amistate")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)
    runtime.reset()


def _create(server: ResponseServer) -> dict[str, Any]:
    event: dict[str, Any] = KINDS["custom-resource-create"].event(server)
    return event


def test_a_403_response_url_is_tried_once_and_the_give_up_logged(
    aws_world: tuple[AwsWorld, ResponseServer], seen: _Seen
) -> None:
    world, _ = aws_world
    world.fresh()
    with running(ResponseServer()) as server:
        server.default = 403
        started = time.monotonic()
        custom_resource.handler(_create(server), Context())
        elapsed = time.monotonic() - started
        assert server.attempt_count() == 1, "a 403 (expired or wrong URL) is not retried"
        assert server.all_received() == []
    assert seen.event.is_set()
    (line,) = [d for d in seen.lines if d["decision"] == "response-not-delivered"]
    assert line["result"] == "HTTP 403 (not retried)"
    assert line["responseStatus"] == "SUCCESS"  # the work was done; only the answer was lost
    assert len(world.images.started) == 1
    record_figures("custom_resource", {"403": {"attempts": 1, "seconds": round(elapsed, 3)}})


def test_the_deadline_inside_a_real_aws_call_answers_failed_once(
    moto_server: Endpoint, seen: _Seen
) -> None:
    """StartImagePipelineExecution hangs on the wire; the timer answers FAILED before the
    deadline; when the call finally times out, no second answer is sent."""
    world = MemoryWorld()
    with running(ResponseServer()) as hanging, running(ResponseServer()) as answers:
        hanging.default = "hang"  # Image Builder accepts the connection and never answers
        # The production config, but one attempt with a 3 s read timeout: the call is still
        # hanging at the 0.9 s deadline timer, and ends on its own soon after.
        config = client_config(max_attempts=1).merge(Config(read_timeout=3))
        imagebuilder = Endpoint(hanging.url).client("imagebuilder", config=config)
        runtime.configure(
            runtime.from_ports(
                Settings(home_region=REGION, account=ACCOUNT),
                Ports(
                    states=world.states,
                    catalog=world.catalog,
                    images=world.images,
                    parameters={REGION: world.parameters},
                    starter=ImageBuilderPipelines(imagebuilder),
                ),
            )
        )
        event = _create(answers)
        event["ResourceProperties"]["PresetName"] = "fresh-preset"
        started = time.monotonic()
        thread = threading.Thread(
            target=custom_resource.handler, args=(event, Context(remaining_ms=1200)), daemon=True
        )
        thread.start()
        answer = answers.received.get(timeout=10)
        answered_after = time.monotonic() - started
        assert answer.body["Status"] == "FAILED"
        assert "did not finish Create in time (last step: create)" in answer.body["Reason"]
        assert answer.body["PhysicalResourceId"] == "amistate:fresh-preset"
        assert answered_after < 1.2, "answered before the deadline"
        hanging.attempts.get(timeout=10)  # the AWS call is on the wire
        thread.join(timeout=30)  # the call times out after the answer
        assert not thread.is_alive()
        assert answers.all_received() == []
        assert answers.attempt_count() == 1, "exactly one answer"
    record_figures(
        "custom_resource", {"deadline_mid_call": {"answered_after_s": round(answered_after, 3)}}
    )


def test_hanging_work_and_a_hanging_response_url_give_up_by_the_deadline(
    monkeypatch: pytest.MonkeyPatch, seen: _Seen
) -> None:
    monkeypatch.setattr(custom_resource, "POLICY", PutPolicy(timeout=30.0, attempts=5))
    world = MemoryWorld()
    starter = BlockingStarter()
    runtime.configure(
        runtime.from_ports(
            world.settings,
            Ports(
                states=world.states,
                catalog=world.catalog,
                images=world.images,
                parameters={REGION: world.parameters},
                starter=starter,
            ),
        )
    )
    with running(ResponseServer()) as server:
        server.default = "hang"
        event = _create(server)
        event["ResourceProperties"]["PresetName"] = "fresh-preset"
        started = time.monotonic()
        thread = threading.Thread(
            target=custom_resource.handler, args=(event, Context(remaining_ms=1500)), daemon=True
        )
        thread.start()
        assert seen.event.wait(timeout=10), "the give-up was not logged"
        gave_up_after = time.monotonic() - started
        assert gave_up_after < 1.5, "gave up before the Lambda deadline"
        (line,) = [d for d in seen.lines if d["decision"] == "response-not-delivered"]
        assert line["responseStatus"] == "FAILED"
        starter.release.set()
        thread.join(timeout=30)
        assert not thread.is_alive()
        assert server.all_received() == []
        attempts = server.attempt_count()
        assert attempts == 1, "the late SUCCESS was never attempted"
    record_figures(
        "custom_resource",
        {"hang_and_hang": {"gave_up_after_s": round(gave_up_after, 3), "attempts": attempts}},
    )


@pytest.mark.parametrize("call", [1, 2, 3, 4])
def test_delete_after_a_create_that_failed_part_way(
    aws_world: tuple[AwsWorld, ResponseServer], call: int
) -> None:
    """Create fails at AWS call N (after N-1 writes) and answers FAILED with the preset's ID;
    CloudFormation's Delete then succeeds, unmaps the pipeline, keeps any state record."""
    world, _ = aws_world
    world.fresh()
    with running(ResponseServer()) as server, capture_logs(root=False):
        create = _create(server)
        world.injector.arm(call, "http-500")
        custom_resource.handler(create, Context())
        world.injector.disarm()
        (failed,) = server.all_received()
        assert failed.body["Status"] == "FAILED"
        assert failed.body["PhysicalResourceId"] == f"amistate:{PRESET}"
        delete = dict(create, RequestType="Delete", RequestId="delete-1")
        delete["PhysicalResourceId"] = failed.body["PhysicalResourceId"]
        delete["ResponseURL"] = server.response_url()
        custom_resource.handler(delete, Context())
        (answer,) = server.all_received()
        assert answer.body["Status"] == "SUCCESS"
        assert answer.body["PhysicalResourceId"] == f"amistate:{PRESET}"
    keys = {item["PK"]["S"] for item in world.items()}
    assert f"PIPELINE#{PIPELINE}" not in keys, "the mapping is gone"
    if call > 1:
        assert f"AMI#{PRESET}" in keys, "the state record is kept"
    record_figures("custom_resource", {f"delete_after_failed_create_call_{call}": "SUCCESS"})
