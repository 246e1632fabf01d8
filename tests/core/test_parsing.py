"""Parsing: every real input shape, and malformed inputs named by field path."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amistate.errors import MalformedEvent
from amistate.parsing import parse_event, parse_invocation
from tests.core.samples import sample

BUILD_3 = "arn:aws:imagebuilder:us-west-2:111122223333:image/spot-runner-linux-x64/1.0.0/3"
PIPELINE = "arn:aws:imagebuilder:us-west-2:111122223333:image-pipeline/spot-runner-linux-x64"


def test_eventbridge_available_has_no_ami_and_needs_getimage() -> None:
    ev = parse_event(sample("eventbridge-image-state-change-available.json"))
    assert ev.build.arn == BUILD_3
    assert ev.build.version == (1, 0, 0, 3)
    assert ev.status == "AVAILABLE"
    assert ev.time == datetime(2024, 1, 18, 17, 50, 56, tzinfo=UTC)
    assert ev.amis is None
    assert ev.pipeline_arn is None
    assert ev.account == "111122223333"


def test_eventbridge_failed_keeps_reason() -> None:
    ev = parse_event(sample("eventbridge-image-state-change-failed.json"))
    assert ev.status == "FAILED"
    assert ev.reason == "Component step 'InstallDocker' failed"


def test_sns_notification_carries_amis_and_pipeline_timed_by_envelope() -> None:
    ev = parse_event(sample("sns-image-notification-available.json"))
    assert ev.origin == "sns"
    assert [(a.region, a.ami_id) for a in ev.amis or ()] == [("us-west-2", "ami-0a1b2c3d4e5f60718")]
    assert ev.pipeline_arn == PIPELINE
    assert ev.time == datetime(2024, 1, 18, 17, 50, 57, 204000, tzinfo=UTC)


def _sqs(body: str, message_id: str = "m-1", **attributes: str) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "eventSource": "aws:sqs",
        "body": body,
        "attributes": {"SentTimestamp": "1705600257204", **attributes},
    }


def test_sqs_wrapping_eventbridge_sns_envelope_and_raw_notification() -> None:
    eb = sample("eventbridge-image-state-change-available.json")
    sns_record = sample("sns-image-notification-available.json")["Records"][0]["Sns"]
    raw_image = sns_record["Message"]
    event = {
        "Records": [
            _sqs(json.dumps(eb), "a"),
            _sqs(json.dumps(sns_record), "b"),
            _sqs(raw_image, "c"),
        ]
    }
    invocation = parse_invocation(event)
    assert invocation.kind == "sqs"
    assert [item.message_id for item in invocation.items] == ["a", "b", "c"]
    parsed = [item.result for item in invocation.items]
    assert all(not isinstance(p, MalformedEvent) for p in parsed)
    assert [getattr(p, "origin", None) for p in parsed] == ["eventbridge", "sns", "sns"]
    raw = parsed[2]
    assert not isinstance(raw, MalformedEvent)
    assert raw.time == datetime(2024, 1, 18, 17, 50, 57, 204000, tzinfo=UTC)


def test_one_bad_sqs_record_does_not_spoil_the_others() -> None:
    eb = sample("eventbridge-image-state-change-available.json")
    invocation = parse_invocation(
        {"Records": [_sqs("not json", "bad"), _sqs(json.dumps(eb), "good")]}
    )
    bad, good = invocation.items
    assert isinstance(bad.result, MalformedEvent)
    assert bad.result.path == "$.Records[0].body"
    assert not isinstance(good.result, MalformedEvent)


Mutation = Callable[[dict[str, Any]], object]


@pytest.mark.parametrize(
    ("mutate", "path", "words"),
    [
        (lambda e: e["detail"]["state"].__setitem__("status", 1), "$.detail.state.status", "str"),
        (lambda e: e.__setitem__("resources", []), "$.resources", "ARN"),
        (lambda e: e.__setitem__("resources", "abc"), "$.resources", "list"),
        (lambda e: e.__setitem__("resources", ["arn:x"]), "$.resources[0]", "ARN"),
        (
            lambda e: e.__setitem__(
                "resources", ["arn:aws:imagebuilder:us-west-2:111122223333:image/x/1.0/3"]
            ),
            "$.resources[0]",
            "x.y.z",
        ),
        (lambda e: e.__setitem__("time", "yesterday"), "$.time", "ISO 8601"),
        (lambda e: e.__setitem__("time", "2024-01-18T17:50:56"), "$.time", "zone"),
        (lambda e: e.__setitem__("time", 1705600256), "$.time", "ISO 8601"),
        (lambda e: e.pop("detail"), "$.detail", "missing"),
        (lambda e: e["detail"].__setitem__("state", None), "$.detail.state", "object"),
        (lambda e: e.__setitem__("source", "aws.ec2"), "$.source", "aws.imagebuilder"),
        (lambda e: e.__setitem__("detail-type", "Other"), "$.detail-type", "Image State"),
    ],
)
def test_malformed_eventbridge_names_the_field(mutate: Mutation, path: str, words: str) -> None:
    event = copy.deepcopy(sample("eventbridge-image-state-change-available.json"))
    mutate(event)
    with pytest.raises(MalformedEvent) as info:
        parse_event(event)
    assert info.value.path == path
    assert words in str(info.value)


def test_times_are_normalised_to_utc() -> None:
    event = sample("eventbridge-image-state-change-available.json")
    event["time"] = "2024-01-18T18:50:56+01:00"
    assert parse_event(event).time == datetime(2024, 1, 18, 17, 50, 56, tzinfo=UTC)


def test_sns_message_that_is_not_json_names_the_message() -> None:
    event = sample("sns-image-notification-available.json")
    event["Records"][0]["Sns"]["Message"] = "hello"
    with pytest.raises(MalformedEvent) as info:
        parse_event(event)
    assert info.value.path == "$.Records[0].Sns.Message"


def test_bad_ami_id_in_notification_is_malformed() -> None:
    event = sample("sns-image-notification-available.json")
    message = json.loads(event["Records"][0]["Sns"]["Message"])
    message["outputResources"]["amis"][0]["image"] = "ami-XYZ"
    event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    with pytest.raises(MalformedEvent, match="AMI ID"):
        parse_event(event)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def _corrupt(event: Any, path: list[Any], value: Any) -> Any:
    if not path or not isinstance(event, (dict, list)) or not event:
        return value
    key = path[0] % len(event) if isinstance(event, list) else sorted(event)[path[0] % len(event)]
    copy_ = copy.copy(event)
    copy_[key] = _corrupt(event[key], path[1:], value)
    return copy_


@given(st.lists(st.integers(0, 50), min_size=1, max_size=4), json_values)
def test_any_corruption_raises_only_the_documented_error(path: list[int], value: Any) -> None:
    for name in (
        "eventbridge-image-state-change-failed.json",
        "sns-image-notification-available.json",
    ):
        event = _corrupt(sample(name), path, value)
        try:
            parse_event(event)
        except MalformedEvent as exc:
            assert exc.path.startswith("$")  # noqa: PT017
