"""Regression tests for the bugs the reliability suite found in other modules.

Each test failed when written (commit ba66357) and passes since the fix (commit d8d76d9); its
docstring names the module, the bug and the fix. The generated inputs of
test_hostile_inputs.py now include these inputs as well. docs/reliability.md lists them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from amistate_adapters import clients

from amistate.errors import AmistateError
from amistate.shims import custom_resource, lambda_handler, runtime
from amistate.testing.events import sqs_record
from tests.reliability.aws_world import AwsWorld
from tests.reliability.common import (
    ACCOUNT,
    EB_AVAILABLE,
    IMAGE,
    PIPELINE,
    PRESET,
    REGION,
    SECRET,
    SNS_AVAILABLE,
    MemoryWorld,
    capture_logs,
)
from tests.reliability.hostile import CR_PROPS
from tests.servers import Endpoint
from tests.shims.fakes import Context, ResponseServer, running


@pytest.fixture
def memory() -> Iterator[MemoryWorld]:
    world = MemoryWorld()
    world.install()
    yield world
    runtime.reset()


def _sqs(message_id: str, body: Any, sent: str) -> dict[str, Any]:
    """A record whose ``SentTimestamp`` is ``sent`` as written (digits SQS never sends)."""
    record = sqs_record(body, message_id=message_id)
    record["attributes"]["SentTimestamp"] = sent
    return record


@pytest.mark.parametrize("sent", ["99999999999999999999", "9" * 400, "²"])
def test_bug_sqs_sent_timestamp_out_of_range_fails_the_whole_batch(
    memory: MemoryWorld, sent: str
) -> None:
    """amistate.core.parsing.sqs.parse_sqs_body: ``str.isdigit()`` accepts '²' and any length, then
    ``int(sent)`` / ``datetime.fromtimestamp`` raise ValueError, OverflowError or OSError,
    which ``_attempt`` does not catch: the handler raises an undocumented exception for the
    whole batch instead of naming one record in batchItemFailures (the good records are
    redelivered too). Fixed first by validating ``SentTimestamp``; since issue 12 the parser
    never reads it at all (a delivery time never orders builds): a raw message is timed by
    its own ``dateCreated`` and one without it is the record named here."""
    building = copy.deepcopy(dict(EB_AVAILABLE))
    building["detail"]["state"]["status"] = "BUILDING"
    undated = {k: v for k, v in IMAGE.items() if k != "dateCreated"}
    event = {
        "Records": [
            _sqs("good", building, "1705600257204"),
            _sqs("bad", undated, sent),
        ]
    }
    result = lambda_handler.handler(event, Context())
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert memory.calls.writes() == []


@pytest.mark.parametrize("config", ['{"maxPrice": NaN}', '{"timeout": Infinity}', '{"x": 1e400}'])
def test_bug_config_with_nan_or_infinity_is_not_refused_naming_config(
    memory: MemoryWorld, config: str
) -> None:
    """amistate.usecases.deploy._config: ``json.loads`` accepts NaN/Infinity/1e400, then
    ``dump_object`` (``allow_nan=False``) raises a bare ValueError ("Out of range float
    values are not JSON compliant"): the custom resource fails with a Reason that does not
    name ``Config`` and on_event raises an undocumented type. Fix: in ``merge.load_object``
    pass ``parse_constant`` that raises (and reject non-finite floats), or catch ValueError
    around ``dump_object`` in ``_config`` -> ``InvalidProperties("Config: ...")``."""
    event = {
        "RequestType": "Create",
        "RequestId": "r",
        "ResourceProperties": {**CR_PROPS, "Config": config},
    }
    with pytest.raises(AmistateError, match=r"^Config: "):
        custom_resource.on_event(event, Context())
    assert memory.calls.writes() == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("PhysicalResourceId", "amistate:\ud800"), ("LogicalResourceId", "Preset\udc00")],
)
def test_bug_a_lone_surrogate_leaves_cloudformation_without_an_answer(
    memory: MemoryWorld, field: str, value: str
) -> None:
    """amistate.shims.response.body encodes with ``ensure_ascii=False`` then ``.encode()``:
    a lone surrogate (valid JSON ``"\\ud800"`` in the request) raises UnicodeEncodeError
    *after* Responder.send claimed the answer, so no answer is ever sent (CloudFormation
    waits an hour) and, for Create, the exception escapes the handler. Fix: encode the body
    with ``ensure_ascii=True`` (CloudFormation reads JSON escapes), or
    ``.encode("utf-8", "backslashreplace")``."""
    with running(ResponseServer()) as server:
        event = {
            "RequestType": "Delete",
            "ResponseURL": server.response_url(),
            "StackId": "arn:aws:cloudformation:us-west-2:111122223333:stack/s/1",
            "RequestId": "r-1",
            "LogicalResourceId": "LinuxPreset",
            "PhysicalResourceId": "amistate-failed:r-0",
            "ResourceProperties": dict(CR_PROPS),
        }
        event[field] = value
        custom_resource.handler(event, Context())
        assert server.attempt_count() == 1, "CloudFormation got no answer"


def test_bug_an_arn_of_another_partition_is_acted_on(memory: MemoryWorld) -> None:
    """amistate.usecases.service.AmiService.handle checks the build's account and region but not its
    partition (nor that the notification's sourcePipelineArn is in the build's account and
    partition): an SNS notification for ``arn:aws-cn:...:us-west-2:<our account>:...`` naming
    our pipeline rewrites SSM. Fix: put the function's partition in Settings (from
    ``invoked_function_arn``) and ignore events whose ``build.partition`` differs; ignore
    notifications whose ``sourcePipelineArn`` is not in the build's partition/account."""
    event: Any = copy.deepcopy(dict(SNS_AVAILABLE))
    image = json.loads(event["Records"][0]["Sns"]["Message"])
    image["arn"] = image["arn"].replace("arn:aws:", "arn:aws-cn:")
    event["Records"][0]["Sns"]["Message"] = json.dumps(image)
    with capture_logs() as logs:
        assert lambda_handler.handler(event, Context()) is None
    assert memory.calls.writes() == []
    assert [d["decision"] for d in logs.decisions()] == ["ignored"]


@pytest.mark.parametrize(
    "pipeline",
    [
        PIPELINE.replace(ACCOUNT, "999988887777"),
        PIPELINE.replace(REGION, "eu-west-1"),
        PIPELINE.replace("arn:aws:", "arn:aws-cn:").replace(REGION, "cn-north-1"),
    ],
)
def test_bug_custom_resource_acts_on_a_pipeline_of_another_account(
    memory: MemoryWorld, pipeline: str
) -> None:
    """amistate.usecases.deploy.parse_properties accepts any pipeline ARN: Create maps it and calls
    StartImagePipelineExecution on another account's (or region's) pipeline, whose events the
    state Lambda then ignores as foreign, so the preset can never become ready. Fix: in
    ``custom_resource._run`` (which knows the function's account, region and partition),
    refuse a ``PipelineArn`` outside them with InvalidProperties naming ``PipelineArn``."""
    event = {
        "RequestType": "Create",
        "RequestId": "r",
        "ResourceProperties": {**CR_PROPS, "PipelineArn": pipeline},
    }
    with pytest.raises(AmistateError, match="PipelineArn"):
        custom_resource.on_event(event, Context())
    assert memory.calls.writes() == []


def test_bug_debug_logging_leaks_config_values_through_botocore(
    aws_world: tuple[AwsWorld, ResponseServer],
    moto_server: Endpoint,
    aws_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The production wiring at Lambda's DEBUG log level (``AWS_LAMBDA_LOG_LEVEL=DEBUG`` sets
    the root logger): botocore.endpoint and botocore.parsers log every request and response
    body, so the preset config (DynamoDB ``config``, SSM PutParameter ``Value``, a decrypted
    SecureString) lands in CloudWatch. amistate.shims.logs.configure_level sets only the
    ``amistate`` logger. Fix: at cold start pin ``botocore``, ``boto3`` and ``urllib3`` to
    INFO (or WARNING) unless an explicit opt-in (e.g. ``AMISTATE_LOG_AWS_WIRE=1``)."""
    world, _ = aws_world
    world.fresh()
    world.deploy()
    monkeypatch.setenv("AMISTATE_TABLE", "amistate-reliability")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_IMAGEBUILDER", world.images.url)
    runtime.reset()
    clients.clear()
    try:
        with capture_logs() as logs:
            assert lambda_handler.handler(copy.deepcopy(dict(EB_AVAILABLE)), Context()) is None
        leaking = sorted({r.name for r in logs.records if SECRET in r.getMessage()})
        assert (world.parameter() or {}).get("Value", "").count(SECRET) == 1
        assert leaking == [], f"config values logged by {leaking}"
    finally:
        runtime.reset()
        clients.clear()
    assert PRESET
