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

from amistate.core.events import BuildEvent
from amistate.core.parsing import parse_event, parse_invocation
from amistate.core.parsing.eventbridge import well_formed
from amistate.core.parsing.eventbridge_strict import parse_strict
from amistate.core.rules import ordering_key
from amistate.errors import MalformedEvent, is_permanent
from amistate.testing import sns_envelope, sns_event, sqs_record
from tests.core.samples import sample

BUILD_3 = "arn:aws:imagebuilder:us-west-2:111122223333:image/spot-runner-linux-x64/1.0.0/3"
BUILD_2 = "arn:aws:imagebuilder:us-west-2:111122223333:image/spot-runner-linux-x64/1.0.0/2"
#: dateCreated of the SNS sample ("Jan 18, 2024 5:21:03 PM", UTC): when build 3 started.
STARTED_3 = datetime(2024, 1, 18, 17, 21, 3, tzinfo=UTC)
PIPELINE = "arn:aws:imagebuilder:us-west-2:111122223333:image-pipeline/spot-runner-linux-x64"


def test_eventbridge_available_has_no_ami_and_needs_getimage() -> None:
    ev = parse_event(sample("eventbridge-image-state-change-available.json"))
    assert ev.build.arn == BUILD_3
    assert ev.build.version == (1, 0, 0, 3)
    assert ev.status == "AVAILABLE"
    assert ev.time == datetime(2024, 1, 18, 17, 50, 56, tzinfo=UTC)
    assert ev.amis is None
    assert ev.pipeline_arn is None
    assert ev.created is None  # no build start in an EventBridge event: GetImage gives it
    assert ev.account == "111122223333"


def test_eventbridge_failed_keeps_reason() -> None:
    ev = parse_event(sample("eventbridge-image-state-change-failed.json"))
    assert ev.status == "FAILED"
    assert ev.reason == "Component step 'InstallDocker' failed"


def test_sns_notification_carries_amis_and_pipeline_timed_by_envelope() -> None:
    ev = parse_event(sample("sns-image-notification-available.json"))
    assert ev.origin == "sns"
    assert ev.amis is not None and ev.amis.regional() == {"us-west-2": "ami-0a1b2c3d4e5f60718"}
    assert ev.pipeline_arn == PIPELINE
    assert ev.time == datetime(2024, 1, 18, 17, 50, 57, 204000, tzinfo=UTC)
    assert ev.created == STARTED_3


def _sqs(body: str, message_id: str = "m-1", **attributes: str) -> dict[str, Any]:
    """An SQS record of ``body`` with exactly these attributes (``SentTimestamp`` by default)."""
    record = sqs_record(body, message_id=message_id)
    record["attributes"] = {"SentTimestamp": "1705600257204", **attributes}
    return record


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
    # No envelope: timed by the message's own dateCreated, never by SentTimestamp.
    assert raw.time == raw.created == STARTED_3
    enveloped = parsed[1]
    assert not isinstance(enveloped, MalformedEvent) and enveloped.created == STARTED_3


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


near_valid = st.sampled_from(
    [
        BUILD_3,
        [BUILD_3],
        [BUILD_3, "arn:x"],
        [BUILD_2, BUILD_3],
        "AVAILABLE",
        "available",
        {"status": "FAILED", "reason": "x" * 2000},
        {"status": "AVAILABLE", "reason": 5},
        "2024-01-18T17:50:56Z",
        "2024-01-18T17:50:56",
        "0001-01-01T00:00:00+01:00",
        "aws.imagebuilder",
        "EC2 Image Builder Image State Change",
        None,
        [],
        {},
    ]
)


#: Every field the EventBridge parser reads, as a path of keys.
EVENTBRIDGE_FIELDS = [
    ["source"],
    ["detail-type"],
    ["time"],
    ["resources"],
    ["resources", 0],
    ["detail"],
    ["detail", "state"],
    ["detail", "state", "status"],
    ["detail", "state", "reason"],
]


def _put(event: dict[str, Any], keys: list[Any], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    *parents, last = keys
    node: Any = changed
    for key in parents:
        node = node[key]
    node[last] = value
    return changed


@given(
    st.sampled_from(EVENTBRIDGE_FIELDS),
    st.lists(st.integers(0, 50), min_size=1, max_size=4),
    json_values | near_valid,
    st.booleans(),
)
def test_the_hand_read_eventbridge_event_is_what_the_strict_converter_reads(
    field: list[Any], path: list[int], value: Any, anywhere: bool
) -> None:
    """The cold start reads a well-formed EventBridge event by hand (no cattrs): it accepts
    only what the strict converter accepts, to the same value, and leaves the rest to it."""
    for name in (
        "eventbridge-image-state-change-available.json",
        "eventbridge-image-state-change-failed.json",
    ):
        original = sample(name)
        event = _corrupt(original, path, value) if anywhere else _put(original, field, value)
        by_hand = well_formed(event)
        try:
            strict: BuildEvent | None = parse_strict(event)
        except MalformedEvent:
            strict = None
        assert by_hand is None or by_hand == strict
        if strict is not None:
            assert parse_event(event) == strict


def test_well_formed_eventbridge_events_are_read_by_hand() -> None:
    for name in (
        "eventbridge-image-state-change-available.json",
        "eventbridge-image-state-change-failed.json",
    ):
        event = sample(name)
        assert well_formed(event) == parse_strict(event) == parse_event(event)
        assert well_formed(event) is not None


# --- issue 12: order is a property of the build; only our AMIs --------------------------


def _image(**changes: Any) -> dict[str, Any]:
    """The SNS sample's Image object, with fields replaced (None: removed)."""
    envelope = sample("sns-image-notification-available.json")["Records"][0]["Sns"]
    image: dict[str, Any] = json.loads(envelope["Message"])
    for key, value in changes.items():
        if value is None:
            image.pop(key, None)
        else:
            image[key] = value
    return image


#: When SNS published the sample notification.
PUBLISHED = "2024-01-18T17:50:57.204Z"


def _sns(image: dict[str, Any]) -> dict[str, Any]:
    return sns_event(sns_envelope(image, PUBLISHED))


def _envelope(image: dict[str, Any]) -> str:
    return json.dumps(sns_envelope(image, PUBLISHED))


def _one_sqs(body: str, **attributes: str) -> BuildEvent:
    """The one SQS record's event; raises its MalformedEvent."""
    record = _sqs(body)
    record["attributes"] = attributes
    (item,) = parse_invocation({"Records": [record]}).items
    if isinstance(item.result, MalformedEvent):
        raise item.result
    return item.result


@pytest.mark.parametrize(
    ("written", "started"),
    [
        ("Jan 18, 2024 5:21:03 PM", STARTED_3),  # the SNS notification's spelling, UTC
        ("Jan 18, 2024 5:21:03\u202fPM", STARTED_3),  # newer JDKs: narrow no-break space
        ("Jan 8, 2024 12:00:00 AM", datetime(2024, 1, 8, 0, 0, 0, tzinfo=UTC)),
        ("Dec 31, 2023 12:59:59 PM", datetime(2023, 12, 31, 12, 59, 59, tzinfo=UTC)),
        ("Sep 9, 2024 11:05:00 AM", datetime(2024, 9, 9, 11, 5, 0, tzinfo=UTC)),
        ("2024-01-18T17:21:03.113Z", datetime(2024, 1, 18, 17, 21, 3, 113000, tzinfo=UTC)),
        ("2024-01-18T18:21:03+01:00", STARTED_3),  # ISO 8601 with any zone, normalised
    ],
)
def test_date_created_in_both_spellings_on_every_notification_path(
    written: str, started: datetime
) -> None:
    image = _image(dateCreated=written)
    via_sns = parse_event(_sns(image))
    via_sqs_envelope = _one_sqs(_envelope(image), SentTimestamp="1705600257204")
    via_sqs_raw = _one_sqs(json.dumps(image), SentTimestamp="1705600257204")
    for event in (via_sns, via_sqs_envelope, via_sqs_raw):
        assert event.created == started
        assert event.created.tzinfo is UTC
    assert via_sqs_raw.time == started  # raw delivery: displayed time from the message too
    assert (
        via_sns.time
        == via_sqs_envelope.time
        == datetime(2024, 1, 18, 17, 50, 57, 204000, tzinfo=UTC)
    )


BAD_DATES = [
    "",
    "yesterday",
    "Jan 18 2024 5:21:03 PM",
    "Jan 18, 2024 17:21:03",  # 24-hour clock without AM/PM
    "Jan 18, 2024 13:21:03 PM",
    "Jan 18, 2024 0:21:03 AM",
    "Feb 30, 2024 5:21:03 PM",
    "Jan 18, 2024 5:61:03 PM",
    "jan 18, 2024 5:21:03 PM",
    "Foo 18, 2024 5:21:03 PM",
    "Jan 18, 2024 5:21:03 PM UTC",
    "Jan ١٨, 2024 5:21:03 PM",  # non-ASCII digits
    "2024-01-18T17:21:03",  # ISO 8601 without a zone
    "2024-13-40T99:99:99Z",
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    "1705598463",
    "x" * 5000,
]


@pytest.mark.parametrize("written", BAD_DATES)
def test_garbled_date_created_is_malformed_naming_it_on_every_path(written: str) -> None:
    image = _image(dateCreated=written)
    with pytest.raises(MalformedEvent) as sns_error:
        parse_event(_sns(image))
    assert sns_error.value.path == "$.Records[0].Sns.Message.dateCreated"
    assert "not a build start time" in str(sns_error.value)
    assert "Jan 18, 2024 5:21:03 PM" in str(sns_error.value)  # says what is accepted
    assert len(str(sns_error.value)) < 300  # a huge value is cut
    with pytest.raises(MalformedEvent) as enveloped:
        _one_sqs(_envelope(image))
    assert enveloped.value.path == "$.Records[0].body.Message.dateCreated"
    with pytest.raises(MalformedEvent) as raw:
        _one_sqs(json.dumps(image))
    assert raw.value.path == "$.Records[0].body.dateCreated"


@pytest.mark.parametrize("value", [1705598463, 1705598463.113, True, [], {}])
def test_date_created_of_the_wrong_json_type_is_malformed(value: object) -> None:
    with pytest.raises(MalformedEvent) as info:
        parse_event(_sns(_image(dateCreated=value)))
    assert info.value.path == "$.Records[0].Sns.Message.dateCreated"


def test_sns_notification_without_date_created_is_refused() -> None:
    with pytest.raises(MalformedEvent) as info:
        parse_event(_sns(_image(dateCreated=None)))
    assert info.value.path == "$.Records[0].Sns.Message.dateCreated"
    assert "orders builds" in info.value.problem
    assert "never" in info.value.problem
    assert is_permanent(info.value)


def test_raw_sqs_message_without_date_created_is_refused_naming_the_fix() -> None:
    """Nothing of the delivery can stand in: the refusal is permanent and says what to send."""
    body = json.dumps(_image(dateCreated=None))
    with pytest.raises(MalformedEvent) as info:
        _one_sqs(body, SentTimestamp="1705600257204", ApproximateReceiveCount="1")
    error = info.value
    assert error.path == "$.Records[0].body.dateCreated"
    assert is_permanent(error)
    for words in ("raw", "dateCreated", "SentTimestamp", "SNS envelope", "unchanged"):
        assert words in error.problem, words
    # The same in a batch: only that record fails, by its messageId.
    good = _sqs(json.dumps(_image()), "good")
    bad = _sqs(body, "bad")
    items = parse_invocation({"Records": [good, bad]}).items
    assert [type(i.result).__name__ for i in items] == ["BuildEvent", "MalformedEvent"]
    assert items[1].message_id == "bad"


@pytest.mark.parametrize(
    "attributes",
    [
        {"SentTimestamp": "1705600257204"},
        {},  # no SentTimestamp at all
        {"SentTimestamp": "not a time"},  # never read, so never a reason to refuse
        {"SentTimestamp": "9" * 400, "ApproximateReceiveCount": "12"},
    ],
)
def test_raw_sqs_message_never_reads_delivery_attributes(attributes: dict[str, str]) -> None:
    event = _one_sqs(json.dumps(_image()), **attributes)
    assert event.created == event.time == STARTED_3


def test_redriven_raw_sqs_message_keeps_its_ordering_key() -> None:
    """A DLQ redrive gives a message a new SentTimestamp: the build keeps its place.

    Before issue 12 a raw message was timed, and so ordered, by its SentTimestamp: the old
    build redriven days later became the newest.
    """
    body = json.dumps(_image())
    original = _one_sqs(body, SentTimestamp="1705600257204", ApproximateReceiveCount="1")
    redriven = _one_sqs(body, SentTimestamp="1705945857204", ApproximateReceiveCount="4")
    assert ordering_key(redriven) == ordering_key(original)
    assert redriven == original  # nothing of the delivery is in the event at all
    # ... and the same key whatever path brought the build.
    via_sns = parse_event(sample("sns-image-notification-available.json"))
    via_envelope = _one_sqs(_envelope(_image()), SentTimestamp="1705945857204")
    assert ordering_key(via_sns) == ordering_key(via_envelope) == ordering_key(original)
    # An older build redriven after a newer one stays older.
    build_2 = _image(arn=BUILD_2, dateCreated="Jan 17, 2024 5:20:59 PM")
    late = _one_sqs(json.dumps(build_2), SentTimestamp="1705945857204")
    assert ordering_key(late) < ordering_key(original)


MULTI = sample("getimage-response-multi-account.json")["image"]["outputResources"]


def _regions(event: BuildEvent) -> list[tuple[str, str]]:
    return list(event.amis.regional().items()) if event.amis else []


@pytest.mark.parametrize("order", ["as-listed", "foreign-first"])
def test_amis_of_other_accounts_stay_theirs_on_every_notification_path(order: str) -> None:
    outputs = copy.deepcopy(MULTI)
    if order == "foreign-first":
        outputs["amis"].reverse()
    image = _image(outputResources=outputs)
    own = {("us-west-2", "ami-0a1b2c3d4e5f60718"), ("eu-west-1", "ami-0f9e8d7c6b5a40312")}
    for event in (
        parse_event(_sns(image)),
        _one_sqs(_envelope(image)),
        _one_sqs(json.dumps(image)),
    ):
        assert set(_regions(event)) == own
        assert len(_regions(event)) == 2  # one per region, the other account's not ours
        assert event.amis is not None
        assert event.amis.copies() == {"444455556666": {"us-west-2": "ami-0c4d5e6f708192a3b"}}


def test_only_foreign_amis_leave_none_of_ours() -> None:
    outputs = copy.deepcopy(MULTI)
    outputs["amis"] = [a for a in outputs["amis"] if a["accountId"] == "444455556666"]
    amis = parse_event(_sns(_image(outputResources=outputs))).amis
    assert amis is not None and amis.regional() == {}


def test_an_ami_without_account_id_is_the_builds_own() -> None:
    outputs = {"amis": [{"region": "us-west-2", "image": "ami-0a1b2c3d4e5f60718"}]}
    event = parse_event(_sns(_image(outputResources=outputs)))
    assert _regions(event) == [("us-west-2", "ami-0a1b2c3d4e5f60718")]


@pytest.mark.parametrize("account", ["", "11112222333", "1111222233334", 111122223333, "abc"])
def test_a_garbled_account_id_is_malformed(account: object) -> None:
    outputs = copy.deepcopy(MULTI)
    outputs["amis"][1]["accountId"] = account
    with pytest.raises(MalformedEvent) as info:
        parse_event(_sns(_image(outputResources=outputs)))
    # A wrong JSON type names the field; a bad value, its entry (attrs validates the object).
    assert info.value.path.startswith("$.Records[0].Sns.Message.outputResources.amis[1]")
    assert "account ID" in info.value.problem or "expected str" in info.value.problem
