"""Trust boundaries: whose events are acted on, which parameter is written, what is logged.

* only the function's own account, and its own region unless configured otherwise, is acted
  on; anything else is ignored before any AWS call;
* the SSM parameter written is always ``<prefix>/<validated preset>``, nothing else;
* SSM config values never reach a log line (captured at DEBUG, searched for a planted secret);
* a SecureString stays a SecureString, with its own KMS key, after amistate rewrites it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from amistate.core.names import parameter_name, state_pk
from amistate.core.settings import Settings
from amistate.errors import InvalidPresetName
from amistate.ports import Preset
from amistate.shims import custom_resource, lambda_handler, runtime
from tests.reliability.aws_world import TABLE, AwsWorld
from tests.reliability.common import (
    ACCOUNT,
    AMI,
    CONFIG,
    EB_AVAILABLE,
    PARAMETER,
    PRESET,
    REGION,
    SECRET,
    SNS_AVAILABLE,
    MemoryWorld,
    capture_logs,
    record_figures,
)
from tests.reliability.test_fault_injection import FAILURE, KINDS, NEWER
from tests.shims.fakes import Context, ResponseServer

KEY = "alias/amistate-presets"


@pytest.fixture
def world(aws_world: tuple[AwsWorld, ResponseServer]) -> Iterator[AwsWorld]:
    w, _ = aws_world
    w.fresh()
    yield w
    runtime.reset()


def test_a_secure_string_stays_a_secure_string_with_its_key(world: AwsWorld) -> None:
    world.deploy(parameter_type="SecureString", key_id=KEY)
    assert world.parameter_key() == KEY
    assert lambda_handler.handler(copy.deepcopy(dict(EB_AVAILABLE)), Context()) is None
    found = world.parameter()
    assert found is not None
    assert found["Type"] == "SecureString"
    assert world.parameter_key() == KEY
    assert json.loads(found["Value"]) == {**CONFIG, "amiId": AMI}
    # A redelivery, and a newer success over SNS, keep both as well.
    assert lambda_handler.handler(copy.deepcopy(dict(SNS_AVAILABLE)), Context()) is None
    assert world.parameter_key() == KEY
    assert (world.parameter() or {}).get("Type") == "SecureString"


def test_only_the_prefixed_parameter_and_the_preset_keys_are_written(world: AwsWorld) -> None:
    custom = "/fleet/ci/runner-configs"
    world.deploy()
    world.raw_ssm.delete_parameter(Name=PARAMETER)
    world.new_process(Settings(home_region=REGION, account=ACCOUNT, parameter_prefix=custom))
    assert lambda_handler.handler(copy.deepcopy(dict(EB_AVAILABLE)), Context()) is None
    names = [p["Name"] for p in world.raw_ssm.describe_parameters()["Parameters"]]
    assert names == [f"{custom}/{PRESET}"]
    keys = {(i["PK"]["S"], i["SK"]["S"]) for i in world.items()}
    assert {pk for pk, _ in keys} <= {f"AMI#{PRESET}", f"PIPELINE#{EB_PIPELINE}"}
    tables = world.raw_ddb.list_tables()["TableNames"]
    assert tables == [TABLE]


EB_PIPELINE = json.loads(SNS_AVAILABLE["Records"][0]["Sns"]["Message"])["sourcePipelineArn"]


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.one_of(
        st.text(max_size=140),
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-/#\x00-\x1f]{0,20}", fullmatch=True),
    )
)
def test_a_preset_name_is_one_safe_path_segment_or_refused(name: str) -> None:
    try:
        path = parameter_name("/spot-runner/configs", name)
    except InvalidPresetName:
        return
    assert path == f"/spot-runner/configs/{name}"
    assert "/" not in name and "#" not in name and ".." not in name
    assert name.isascii() and name.isprintable() and name == name.strip()
    assert state_pk(name) == f"AMI#{name}"


@pytest.mark.parametrize(
    "arn",
    [
        f"arn:aws:imagebuilder:{REGION}:999988887777:image/spot-runner-linux-x64/1.0.0/3",
        f"arn:aws:imagebuilder:eu-west-1:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0/3",
        f"arn:aws-us-gov:imagebuilder:us-gov-west-1:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0/3",
    ],
)
def test_sns_notifications_of_other_accounts_and_regions_are_ignored(arn: str) -> None:
    """Even carrying AMIs and this preset's own pipeline, with no GetImage to stop them."""
    world = MemoryWorld()
    world.install()
    event: Any = copy.deepcopy(dict(SNS_AVAILABLE))
    image = json.loads(event["Records"][0]["Sns"]["Message"])
    image["arn"] = arn
    event["Records"][0]["Sns"]["Message"] = json.dumps(image)
    with capture_logs() as logs:
        assert lambda_handler.handler(event, Context()) is None
    assert world.calls.names == []
    assert [d["decision"] for d in logs.decisions()] == ["ignored"]


def test_a_build_of_another_region_is_ignored() -> None:
    event: Any = copy.deepcopy(dict(SNS_AVAILABLE))
    image = json.loads(event["Records"][0]["Sns"]["Message"])
    image["arn"] = image["arn"].replace(REGION, "eu-west-1")
    image["sourcePipelineArn"] = image["sourcePipelineArn"].replace(REGION, "eu-west-1")
    event["Records"][0]["Sns"]["Message"] = json.dumps(image)
    preset = Preset(PRESET, image["sourcePipelineArn"], dict(CONFIG))
    world = MemoryWorld()
    world.catalog.register(preset)
    world.calls.clear()
    world.install()
    assert lambda_handler.handler(copy.deepcopy(event), Context()) is None
    assert world.calls.writes() == []


def test_amistate_logs_never_hold_config_values_even_at_debug(
    world: AwsWorld, aws_world: tuple[AwsWorld, ResponseServer]
) -> None:
    """Every path that reads or writes the config, with amistate's loggers at DEBUG."""
    world.deploy()
    with capture_logs(root=False) as logs:
        lambda_handler.handler(copy.deepcopy(dict(EB_AVAILABLE)), Context())
        lambda_handler.handler(copy.deepcopy(dict(SNS_AVAILABLE)), Context())
        world.injector.arm(4, "http-500")  # an SSM call fails: an error line
        with pytest.raises(ClientError, match="InternalServerError"):
            lambda_handler.handler(copy.deepcopy(NEWER), Context())
        world.injector.disarm()
        lambda_handler.handler(copy.deepcopy(FAILURE), Context())
        world.fresh()
        event = KINDS["custom-resource-create"].event(aws_world[1])
        custom_resource.handler(event, Context())
    text = logs.text()
    assert len(logs.decisions()) >= 5
    assert SECRET not in text
    assert "c7i.large" not in text
    record_figures("secrecy", {"amistate_debug_lines": len(logs.records)})
