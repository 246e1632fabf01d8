"""MachineImages contract: AMI states and the in-use tags, in memory and on moto's EC2.

moto's server gives real AMI IDs (``register_image``), forgets an AMI at
``deregister_image`` (``missing``: real EC2 shows ``deregistered`` for a while,
then nothing) and supports ``disable_image``. The EC2 states moto cannot
produce (pending, failed, ...) and the error classes are checked with
botocore's ``Stubber`` at the end of this file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from amistate_adapters.ec2 import DESCRIBE_BATCH, Ec2MachineImages
from amistate_adapters.errors import AwsRequestRejected
from amistate_adapters.memory_inventory import MemoryMachineImages
from attrs import frozen
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from amistate.core.in_use import InUseKeys
from amistate.ports.inventory import LAUNCHABLE, MachineImages
from tests.servers import REGION, Endpoint

UNKNOWN = "ami-0123456789abcdef0"
KEYS = InUseKeys.of("staging")
OURS, PRESETS = KEYS.owned
THEIRS = InUseKeys.of("prod").protect


def tags(presets: str) -> dict[str, str]:
    return {OURS: "true", PRESETS: presets}


@frozen
class ImagesBackend:
    """The port, plus backdoors that change the world behind its back."""

    backend: str
    images: MachineImages
    register: Callable[[], str]
    deregister: Callable[[str], None]
    disable: Callable[[str], None]
    #: An AMI of another account carrying ``key=value`` (name of the key, value).
    foreign_tagged: Callable[[str, str], str]
    #: The AWS operations the port made so far.
    calls: Callable[[], list[str]]


def _memory() -> ImagesBackend:
    images = MemoryMachineImages(REGION)

    def foreign_tagged(key: str, value: str) -> str:
        ami = images.register(owner="999988887777")
        images.images[ami].tags[key] = value
        return ami

    return ImagesBackend(
        "memory",
        images,
        images.register,
        images.deregister,
        images.disable,
        foreign_tagged,
        lambda: list(images.calls),
    )


def _moto(moto: Endpoint) -> ImagesBackend:
    port_client = moto.client("ec2")
    made: list[str] = []

    def count(model: Any, **_: Any) -> None:
        made.append(model.name)

    port_client.meta.events.register("before-call.ec2", count)
    backdoor = moto.client("ec2")

    def register() -> str:
        return str(backdoor.register_image(Name=f"amistate-{len(made)}-{id(made)}")["ImageId"])

    def foreign_tagged(key: str, value: str) -> str:
        ami = str(backdoor.describe_images(Owners=["amazon"])["Images"][0]["ImageId"])
        backdoor.create_tags(Resources=[ami], Tags=[{"Key": key, "Value": value}])
        return ami

    return ImagesBackend(
        "moto",
        Ec2MachineImages(port_client, REGION),
        register,
        lambda ami: backdoor.deregister_image(ImageId=ami),
        lambda ami: backdoor.disable_image(ImageId=ami),
        foreign_tagged,
        lambda: list(made),
    )


@pytest.fixture(params=["memory", "moto"])
def world(request: pytest.FixtureRequest) -> ImagesBackend:
    if request.param == "memory":
        return _memory()
    return _moto(request.getfixturevalue("moto"))


# ---------------------------------------------------------------- states


def test_region_is_the_one_given(world: ImagesBackend) -> None:
    assert world.images.region == REGION


def test_states_available_and_unknown(world: ImagesBackend) -> None:
    ami = world.register()
    assert dict(world.images.states([ami, UNKNOWN, "not-an-ami"])) == {
        ami: "available",
        UNKNOWN: "missing",
        "not-an-ami": "missing",
    }
    assert world.calls() == ["DescribeImages"]


def test_deregistered_ami_is_not_launchable(world: ImagesBackend) -> None:
    kept, gone = world.register(), world.register()
    world.deregister(gone)
    states = world.images.states([kept, gone])
    assert states[kept] == "available"
    assert states[gone] in {"deregistered", "missing"}
    assert states[gone] not in LAUNCHABLE


def test_disabled_ami_is_seen_as_disabled(world: ImagesBackend) -> None:
    ami = world.register()
    world.disable(ami)
    assert dict(world.images.states([ami])) == {ami: "disabled"}


def test_no_ids_no_call(world: ImagesBackend) -> None:
    assert dict(world.images.states([])) == {}
    world.images.tag([], tags("linux"))
    world.images.untag([], KEYS.owned)
    assert world.calls() == []


def test_more_ids_than_one_batch(world: ImagesBackend) -> None:
    real = [world.register(), world.register()]
    unknown = [f"ami-f{n:016x}" for n in range(1, 2 * DESCRIBE_BATCH)]
    asked = [real[0], *unknown, real[1], real[0]]  # 401 distinct: 3 batches
    states = world.images.states(asked)
    assert set(states) == set(asked)
    assert states[real[0]] == states[real[1]] == "available"
    assert {states[ami] for ami in unknown} == {"missing"}
    assert world.calls() == ["DescribeImages"] * 3


# ---------------------------------------------------------------- tags


def test_tag_and_untag_are_idempotent(world: ImagesBackend) -> None:
    a, b, c = world.register(), world.register(), world.register()
    images = world.images
    images.tag([a, b], tags("linux"))
    images.tag([a, b], tags("linux"))
    assert dict(images.tagged(KEYS.owned)) == {a: tags("linux"), b: tags("linux")}
    images.tag([b], tags("linux,windows"))
    assert dict(images.tagged(KEYS.owned)) == {a: tags("linux"), b: tags("linux,windows")}
    images.untag([a, c], KEYS.owned)
    images.untag([a, c], KEYS.owned)
    assert dict(images.tagged(KEYS.owned)) == {b: tags("linux,windows")}
    images.untag([b], KEYS.owned)  # whatever the values
    assert dict(images.tagged(KEYS.owned)) == {}


def test_tagged_lists_own_images_with_any_key_asked_and_only_those_keys(
    world: ImagesBackend,
) -> None:
    mine, theirs, both, other_key = (world.register() for _ in range(4))
    world.images.tag([mine, both], tags("linux"))
    world.images.tag([theirs, both], {THEIRS: "true"})
    world.images.tag([other_key, both], {"Name": "not-in-use"})
    foreign = world.foreign_tagged(OURS, "true")
    listed = dict(world.images.tagged(KEYS.owned))
    assert listed == {mine: tags("linux"), both: tags("linux")}
    assert foreign not in listed
    assert dict(world.images.tagged([THEIRS, "Name"])) == {
        theirs: {THEIRS: "true"},
        both: {THEIRS: "true", "Name": "not-in-use"},
        other_key: {"Name": "not-in-use"},
    }


def test_untag_leaves_the_other_keys(world: ImagesBackend) -> None:
    ami = world.register()
    world.images.tag([ami], {**tags("linux"), THEIRS: "true"})
    world.images.untag([ami], KEYS.owned)
    assert dict(world.images.tagged([*KEYS.owned, THEIRS])) == {ami: {THEIRS: "true"}}


def test_tagged_includes_disabled_images(world: ImagesBackend) -> None:
    ami = world.register()
    world.images.tag([ami], tags("linux"))
    world.disable(ami)
    assert dict(world.images.tagged(KEYS.owned)) == {ami: tags("linux")}


def test_tagging_skips_amis_that_vanished(world: ImagesBackend) -> None:
    kept, gone = world.register(), world.register()
    world.deregister(gone)
    world.images.tag([gone, kept, UNKNOWN], tags("linux"))
    assert dict(world.images.tagged(KEYS.owned)) == {kept: tags("linux")}
    world.images.untag([UNKNOWN, gone, kept], KEYS.owned)
    assert dict(world.images.tagged(KEYS.owned)) == {}


def test_a_malformed_id_is_refused_permanently(world: ImagesBackend) -> None:
    ami = world.register()
    with pytest.raises(AwsRequestRejected):
        world.images.tag([ami, "bogus"], tags("linux"))


# ---------------------------------------------------------------- EC2 only, with Stubber


@pytest.fixture
def stubbed(aws_env: None) -> Iterator[tuple[Ec2MachineImages, Stubber]]:
    client = boto3.client("ec2", region_name=REGION)
    with Stubber(client) as stubber:
        yield Ec2MachineImages(client, REGION), stubber
        stubber.assert_no_pending_responses()


def test_every_ec2_state_maps_to_the_port(stubbed: tuple[Ec2MachineImages, Stubber]) -> None:
    images, stubber = stubbed
    ec2_states = {
        "available": "available",
        "pending": "pending",
        "transient": "pending",
        "disabled": "disabled",
        "deregistered": "deregistered",
        "failed": "failed",
        "invalid": "failed",
        "error": "failed",
    }
    ids = {state: f"ami-{n:017x}" for n, state in enumerate(ec2_states, 1)}
    stubber.add_response(
        "describe_images",
        {"Images": [{"ImageId": ids[s], "State": s} for s in ec2_states]},
        {
            "Filters": [{"Name": "image-id", "Values": list(ids.values())}],
            "IncludeDeprecated": True,
            "IncludeDisabled": True,
        },
    )
    assert dict(images.states(list(ids.values()))) == {ids[s]: ec2_states[s] for s in ec2_states}


def test_an_image_not_asked_for_is_ignored(stubbed: tuple[Ec2MachineImages, Stubber]) -> None:
    images, stubber = stubbed
    stubber.add_response(
        "describe_images",
        {"Images": [{"ImageId": UNKNOWN, "State": "available"}]},
        {"Filters": ANY, "IncludeDeprecated": True, "IncludeDisabled": True},
    )
    assert dict(images.states(["ami-00000000000000001"])) == {"ami-00000000000000001": "missing"}


def test_tagged_asks_for_own_images_with_one_wildcard_for_the_keys_and_pages(
    stubbed: tuple[Ec2MachineImages, Stubber],
) -> None:
    images, stubber = stubbed
    expected = {
        "Owners": ["self"],
        "Filters": [{"Name": "tag-key", "Values": ["amistate:in-use*"]}],
        "IncludeDeprecated": True,
        "IncludeDisabled": True,
    }
    first = {
        "ImageId": "ami-00000000000000001",
        "Tags": [{"Key": OURS, "Value": "true"}, {"Key": "Name", "Value": "x"}],
    }
    second = {
        "ImageId": "ami-00000000000000002",
        "Tags": [{"Key": KEYS.read[2], "Value": "b"}, {"Key": THEIRS, "Value": "true"}],
    }
    stubber.add_response("describe_images", {"Images": [first], "NextToken": "t1"}, expected)
    stubber.add_response("describe_images", {"Images": [second]}, {**expected, "NextToken": "t1"})
    assert dict(images.tagged(KEYS.read)) == {
        "ami-00000000000000001": {OURS: "true"},
        "ami-00000000000000002": {KEYS.read[2]: "b"},
    }


def test_untag_deletes_the_keys_whatever_their_values(
    stubbed: tuple[Ec2MachineImages, Stubber],
) -> None:
    images, stubber = stubbed
    stubber.add_response(
        "delete_tags",
        {},
        {"Resources": ["ami-00000000000000001"], "Tags": [{"Key": OURS}, {"Key": PRESETS}]},
    )
    images.untag(["ami-00000000000000001", "ami-00000000000000001"], KEYS.owned)


def test_tags_in_batches_of_a_thousand(stubbed: tuple[Ec2MachineImages, Stubber]) -> None:
    images, stubber = stubbed
    ids = [f"ami-{n:017x}" for n in range(1, 1502)]
    pairs = [{"Key": OURS, "Value": "true"}, {"Key": PRESETS, "Value": "linux"}]
    stubber.add_response("create_tags", {}, {"Resources": ids[:1000], "Tags": pairs})
    stubber.add_response("create_tags", {}, {"Resources": ids[1000:], "Tags": pairs})
    images.tag(ids, tags("linux"))


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("RequestLimitExceeded", 503),
        ("Throttling", 400),
        ("InternalError", 500),
        ("Unavailable", 503),
    ],
)
def test_transient_errors_propagate(
    stubbed: tuple[Ec2MachineImages, Stubber], code: str, status: int
) -> None:
    images, stubber = stubbed
    stubber.add_client_error("describe_images", service_error_code=code, http_status_code=status)
    with pytest.raises(ClientError) as raised:
        images.states([UNKNOWN])
    assert raised.value.response["Error"]["Code"] == code


@pytest.mark.parametrize(
    "code", ["InvalidAMIID.Malformed", "InvalidParameterValue", "InvalidFilter"]
)
def test_validation_errors_are_permanent(
    stubbed: tuple[Ec2MachineImages, Stubber], code: str
) -> None:
    images, stubber = stubbed
    stubber.add_client_error("describe_images", service_error_code=code, http_status_code=400)
    with pytest.raises(AwsRequestRejected, match=code):
        images.states([UNKNOWN])


def test_throttled_tagging_is_not_retried_as_a_vanished_ami(
    stubbed: tuple[Ec2MachineImages, Stubber],
) -> None:
    images, stubber = stubbed
    stubber.add_client_error(
        "create_tags", service_error_code="RequestLimitExceeded", http_status_code=503
    )
    with pytest.raises(ClientError):
        images.tag([UNKNOWN], tags("linux"))
