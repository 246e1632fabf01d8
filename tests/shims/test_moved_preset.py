"""Issue 20, point 6: a warm state function never applies a build to a preset that moved.

The state function caches a pipeline's presets per process (docs/configuration.md,
"The pipeline mapping cache"). A stack update that moves a preset to another
pipeline runs in the custom resource's function, another process, so the warm
state function still maps the old pipeline to the preset for up to a minute.
Here that other process is a real one (``custom_resource.handler`` in a
subprocess, over the same moto server, Image Builder stand-in and ResponseURL).

Before the change (0864f6a) a build of the old pipeline finishing in that minute
became the moved preset's AMI, in its record and in the parameter its runners
launch from.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.servers import Table
from tests.shims.conftest import PIPELINE, Aws
from tests.shims.fakes import REGION
from tests.shims.test_follow_the_stack import (
    NEW_CONFIG,
    OLD_CONFIG,
    OTHER_PIPELINE,
    PRESET,
    T0,
    ami,
    create,
    deliver,
    record,
    ssm_json,
)

REPO = Path(__file__).resolve().parents[2]
HANDLE_IN_ANOTHER_PROCESS = """
import json, sys
from amistate.shims import custom_resource
from tests.shims.fakes import Context
custom_resource.handler(json.load(sys.stdin), Context(function_name="amistate-preset"))
"""


def _move_in_another_process(aws: Aws, created: dict[str, Any]) -> None:
    """CloudFormation's Update of ``created`` to OTHER_PIPELINE, by another function."""
    event = aws.resource_event(
        "Update",
        preset=PRESET,
        pipeline=OTHER_PIPELINE,
        config=NEW_CONFIG,
        start_build="false",
        old=created["ResourceProperties"],
    )
    event["LogicalResourceId"] = created["LogicalResourceId"]
    done = subprocess.run(
        [sys.executable, "-c", HANDLE_IN_ANOTHER_PROCESS],
        input=json.dumps(event),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (answer,) = aws.responses.all_received()
    assert answer.body["Status"] == "SUCCESS", answer.body


def test_a_warm_function_ignores_the_old_pipelines_build_of_a_moved_preset(
    aws: Aws, moto_table: Table, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="amistate")
    aws.images.pipelines.add(OTHER_PIPELINE)
    created = create(aws, PRESET, OLD_CONFIG, start_build="false")
    first = aws.images.new_build(PIPELINE, T0)
    aws.images.finish(first, "AVAILABLE", {REGION: ami(1)}, finished=T0 + timedelta(minutes=40))
    deliver(aws)  # the state function is warm: PIPELINE -> linux-x64 is cached
    assert record(aws)["amiId"] == ami(1)

    _move_in_another_process(aws, created)
    assert record(aws)["pipelineArn"] == OTHER_PIPELINE
    parameter = ssm_json(moto_table, REGION)
    assert parameter == {**NEW_CONFIG, "amiId": ami(1)}

    late = aws.images.new_build(PIPELINE, T0 + timedelta(hours=1))
    aws.images.finish(late, "AVAILABLE", {REGION: ami(2)}, finished=T0 + timedelta(hours=2))
    caplog.clear()
    deliver(aws)

    after = record(aws)
    assert (after["amiId"], after["buildId"], after["status"]) == (ami(1), first, "ready")
    assert ssm_json(moto_table, REGION) == parameter
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "amistate"]
    (line,) = [line for line in lines if line.get("buildId") == late]
    assert (line["decision"], line["preset"]) == ("ignored", PRESET)
    assert OTHER_PIPELINE in line["note"]
    assert line["awsCalls"] == 2  # GetImage and the refused UpdateItem: no extra call
