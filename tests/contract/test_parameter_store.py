"""ParameterStore contract: decrypted reads, rewrites that keep type, key and tier, and the
versions that show another writer's write between a read and a write."""

from __future__ import annotations

import json

import pytest
from amistate_adapters.ssm import SsmParameterStore

from amistate.core.ami_parameter import AMI_DATA_TYPE
from amistate.errors import InvalidConfig
from amistate.ports import Parameter, Written
from tests.contract.conftest import ParameterBackend, RawParameter
from tests.servers import REGION, Endpoint

NAME = "/spot-runner/configs/linux"
KEY = "alias/amistate-test"


def test_missing_parameter_is_none(parameters: ParameterBackend) -> None:
    assert parameters.store.get(NAME) is None


def test_new_parameter_is_a_standard_string(parameters: ParameterBackend) -> None:
    value = json.dumps({"amiId": "ami-1", "timeout": 60})
    written = parameters.store.put(NAME, value, like=None)
    assert written == Written(1, "Standard")
    got = parameters.store.get(NAME)
    # GetParameter does not tell a String's tier: unknown, not guessed.
    assert got == Parameter(NAME, value, "String", None, None)
    assert got is not None and got.version == 1
    assert parameters.raw(NAME) == RawParameter(value, "String", None, "Standard")


def test_a_write_answers_the_version_it_made_and_history_shows_what_came_between(
    parameters: ParameterBackend,
) -> None:
    parameters.seed(NAME, '{"amiId":"ami-0"}', "String", None)
    read = parameters.store.get(NAME)
    assert read is not None and read.version == 1
    parameters.seed(NAME, '{"amiId":"ami-0","maxRunners":4}', "String", None)  # another writer
    written = parameters.store.put(NAME, '{"amiId":"ami-1"}', like=read)
    assert written.version == 3  # not read.version + 1: someone wrote in between
    assert [(v.version, v.value, v.tier) for v in parameters.store.history(NAME)] == [
        (1, '{"amiId":"ami-0"}', "Standard"),
        (2, '{"amiId":"ami-0","maxRunners":4}', "Standard"),
        (3, '{"amiId":"ami-1"}', "Standard"),
    ]
    assert parameters.store.history(f"{NAME}-missing") == ()


def test_history_is_decrypted_and_read_over_several_pages(parameters: ParameterBackend) -> None:
    parameters.seed(NAME, '{"n":0}', "SecureString", KEY)
    read = parameters.store.get(NAME)
    for n in range(1, 60):
        parameters.store.put(NAME, json.dumps({"n": n}), like=read)
    found = parameters.store.history(NAME)
    assert [v.version for v in found] == list(range(1, 61))
    assert {(v.type, v.key_id) for v in found} == {("SecureString", KEY)}
    assert [json.loads(v.value)["n"] for v in found] == list(range(60))


def test_an_advanced_parameter_stays_advanced_under_a_small_value(
    parameters: ParameterBackend,
) -> None:
    parameters.seed_advanced(NAME, '{"amiId":"ami-0"}')
    got = parameters.store.get(NAME)
    assert got is not None
    assert got.tier is None  # not read: never "Standard" because the value is small
    written = parameters.store.put(NAME, '{"amiId":"ami-1"}', like=got)
    assert written.tier == "Advanced"
    assert parameters.raw(NAME) == RawParameter('{"amiId":"ami-1"}', "String", None, "Advanced")
    assert [(v.version, v.tier) for v in parameters.store.history(NAME)] == [
        (1, "Advanced"),
        (2, "Advanced"),
    ]


def test_string_round_trip_and_overwrite(parameters: ParameterBackend) -> None:
    parameters.seed(NAME, '{"amiId":"ami-0","labels":["x"]}', "String", None)
    got = parameters.store.get(NAME)
    assert got is not None
    assert (got.value, got.type) == ('{"amiId":"ami-0","labels":["x"]}', "String")
    parameters.store.put(NAME, '{"amiId":"ami-1","labels":["x"]}', like=got)
    again = parameters.store.get(NAME)
    assert again is not None
    assert (again.value, again.type) == ('{"amiId":"ami-1","labels":["x"]}', "String")


def test_secure_string_keeps_type_and_key(parameters: ParameterBackend) -> None:
    parameters.seed(NAME, '{"amiId":"ami-0"}', "SecureString", KEY)
    got = parameters.store.get(NAME)
    assert got == Parameter(NAME, '{"amiId":"ami-0"}', "SecureString", KEY, "Standard")
    parameters.store.put(NAME, '{"amiId":"ami-1"}', like=got)
    assert parameters.raw(NAME) == RawParameter(
        '{"amiId":"ami-1"}', "SecureString", KEY, "Standard"
    )
    again = parameters.store.get(NAME)
    assert again is not None
    assert (again.value, again.type, again.key_id) == ('{"amiId":"ami-1"}', "SecureString", KEY)


def test_large_value_goes_to_advanced_and_stays(parameters: ParameterBackend) -> None:
    parameters.seed(NAME, '{"amiId":"ami-0"}', "String", None)
    big = json.dumps({"amiId": "ami-1", "blob": "x" * 5000})
    parameters.store.put(NAME, big, like=parameters.store.get(NAME))
    raw = parameters.raw(NAME)
    assert raw is not None
    assert (raw.value, raw.tier) == (big, "Advanced")
    got = parameters.store.get(NAME)
    assert got is not None
    assert got.tier is None  # GetParameter does not tell it
    bigger = json.dumps({"amiId": "ami-2", "blob": "y" * 5000})
    parameters.store.put(NAME, bigger, like=got)
    raw = parameters.raw(NAME)
    assert raw is not None
    assert (raw.value, raw.tier) == (bigger, "Advanced")


@pytest.mark.parametrize("bad", ["not json", "[1, 2]", '"text"', "", '{"a": 1'])
def test_non_object_value_is_refused_and_nothing_written(
    parameters: ParameterBackend, bad: str
) -> None:
    with pytest.raises(InvalidConfig):
        parameters.store.put(NAME, bad, like=None)
    assert parameters.store.get(NAME) is None
    parameters.seed(NAME, '{"amiId":"ami-0"}', "String", None)
    with pytest.raises(InvalidConfig):
        parameters.store.put(NAME, bad, like=parameters.store.get(NAME))
    got = parameters.store.get(NAME)
    assert got is not None
    assert got.value == '{"amiId":"ami-0"}'


def test_get_many_over_several_batches(parameters: ParameterBackend) -> None:
    names = [f"{NAME}-{i:02d}" for i in range(23)]
    for i, name in enumerate(names):
        if i == 7:
            continue  # missing
        kind, key = ("SecureString", KEY) if i in (3, 15) else ("String", None)
        parameters.seed(name, json.dumps({"amiId": f"ami-{i}"}), kind, key)
    big = json.dumps({"amiId": "ami-big", "blob": "x" * 5000})
    parameters.store.put(names[20], big, like=None)  # Advanced
    calls: list[str] = []
    if parameters.backend == "moto":
        client = parameters.store.client  # type: ignore[attr-defined]
        client.meta.events.register("before-call.ssm", lambda model, **_: calls.append(model.name))
    found = parameters.store.get_many([*names, names[0]])  # a repeated name is asked once
    if parameters.backend == "moto":  # 10 names a call; DescribeParameters for SecureStrings only
        assert calls == ["GetParameters"] * 3 + ["DescribeParameters"]
    assert list(found) == names
    assert found[names[7]] is None
    # DescribeParameters tells a SecureString's tier.
    for i in (3, 15):
        value = json.dumps({"amiId": f"ami-{i}"})
        assert found[names[i]] == Parameter(names[i], value, "SecureString", KEY, "Standard")
    assert found[names[20]] == Parameter(names[20], big, "String", None, None)  # tier not read
    for i in set(range(23)) - {3, 7, 15, 20}:
        assert found[names[i]] == Parameter(names[i], json.dumps({"amiId": f"ami-{i}"}))
        assert found[names[i]] == parameters.store.get(names[i])
    assert parameters.store.get_many([]) == {}


def test_get_many_reads_a_string_list_as_its_value(moto: Endpoint) -> None:
    client = moto.client("ssm")
    client.put_parameter(Name=NAME, Value="a,b", Type="StringList")
    client.put_parameter(Name=f"{NAME}-2", Value='{"amiId":"ami-1"}', Type="String")
    found = SsmParameterStore(client, REGION).get_many([NAME, f"{NAME}-2"])
    assert found == {
        NAME: Parameter(NAME, "a,b"),
        f"{NAME}-2": Parameter(f"{NAME}-2", '{"amiId":"ami-1"}'),
    }
    # A read whose version is withheld is no basis for a rewrite (amistate.batch).
    assert [(p.version if p else "missing") for p in found.values()] == [None, 1]


AMI_NAME = "/spot-runner/amis/linux"


def test_an_ami_parameter_is_a_string_of_data_type_aws_ec2_image(
    parameters: ParameterBackend,
) -> None:
    first = parameters.store.put_ami(AMI_NAME, "ami-0123456789abcdef0")
    second = parameters.store.put_ami(AMI_NAME, "ami-0fedcba9876543210")
    assert (first.version, second.version) == (1, 2)
    got = parameters.store.get(AMI_NAME)
    assert got is not None
    assert (got.value, got.type, got.data_type) == (
        "ami-0fedcba9876543210",
        "String",
        AMI_DATA_TYPE,
    )
    (many,) = parameters.store.get_many([AMI_NAME]).values()
    assert many is not None and many.data_type == AMI_DATA_TYPE
    assert [v.data_type for v in parameters.store.history(AMI_NAME)] == [AMI_DATA_TYPE] * 2
    parameters.store.put(NAME, "{}", like=None)
    plain = parameters.store.get(NAME)
    assert plain is not None and plain.data_type == "text"
