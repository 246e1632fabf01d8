"""The shim modules import neither boto3 nor the adapters: a cold start pays for them only at
the first invocation (and an ignored event never needs more than that); and a cold
EventBridge success imports nothing it has no use for."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

from amistate.testing import eventbridge_event
from tests.shims.conftest import PIPELINE, Aws
from tests.shims.fakes import ACCOUNT, REGION

BUILD = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0/3"
AMI = "ami-0a1b2c3d4e5f60718"
STARTED = datetime(2024, 1, 18, 17, 21, 3, tzinfo=UTC)


def test_importing_the_entry_points_loads_no_boto3() -> None:
    script = textwrap.dedent(
        """
        import sys
        import amistate.shims.lambda_handler, amistate.shims.custom_resource
        heavy = sorted(
            m for m in sys.modules
            if m.split(".")[0] in ("boto3", "botocore", "amistate_adapters")
        )
        print(heavy)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


#: What a cold EventBridge success has no use for: other entry points and use cases, the
#: other input shapes, the strict converter (a well-formed event is read by hand), the
#: reconciler's ports and the in-memory adapters.
NOT_ON_THE_EVENTBRIDGE_PATH = (
    "amistate.cli",
    "amistate.demo",
    "amistate.testing",
    "amistate.read",
    "amistate.shims.custom_resource",
    "amistate.shims.reconcile",
    "amistate.usecases.deploy",
    "amistate.usecases.reconcile",
    "amistate.usecases.pins",
    "amistate.usecases.promotions",
    "amistate.core.parsing.sns",
    "amistate.core.parsing.sqs",
    "amistate.core.parsing.strict",
    "amistate.core.parsing.eventbridge_strict",
    "amistate.core.in_use",
    "amistate.ports.inventory",
    "amistate_adapters.memory",
    "amistate_adapters.memory_inventory",
    "amistate_adapters.memory_accounts",
    "amistate_adapters.ec2",
    "amistate_adapters.pipeline_images",
    "cattrs",
    "cattr",
)

_COLD_INVOCATION = textwrap.dedent(
    """
    import json, sys
    from amistate.shims.lambda_handler import handler

    class Context:
        invoked_function_arn = "arn:aws:lambda:us-west-2:111122223333:function:amistate-state"
        aws_request_id = "cold-start"

    handler(json.loads(sys.argv[1]), Context())
    print(json.dumps(sorted(sys.modules)))
    """
)


def test_a_cold_eventbridge_success_imports_nothing_it_does_not_use(aws: Aws) -> None:
    """A fresh interpreter imports the handler and handles one successful EventBridge
    event (a real write of the record and the parameter, through the AWS adapters):
    none of the modules that path has no use for is loaded, so a change that pulls one
    back into the cold start fails here, whatever the timing."""
    aws.deploy(start_build="false")
    aws.images.add_image(BUILD, PIPELINE, {REGION: AMI}, created=STARTED)
    event = eventbridge_event(BUILD, "AVAILABLE", "2024-01-18T17:50:56Z")
    done = subprocess.run(
        [sys.executable, "-c", _COLD_INVOCATION, json.dumps(event)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    assert aws.parameter_json()["amiId"] == AMI  # the success path really ran
    unwanted = [
        m
        for m in loaded
        if any(m == name or m.startswith(name + ".") for name in NOT_ON_THE_EVENTBRIDGE_PATH)
    ]
    assert unwanted == []
