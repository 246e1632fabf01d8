"""Hypothesis strategies for hostile and malformed inputs, each one broken by construction.

Every strategy starts from a real-shaped event (tests/samples) and breaks it in one named way
(``break_`` labels end up in the statistics), optionally sprinkling extra fields, nulls, huge
strings, unicode and control characters on top. A break either makes the event malformed or
makes it one the contract says to ignore (non-terminal status, another account or region);
none can be a valid event of this function, so no input may lead to a write.

The inputs behind the bugs this suite found (test_found_bugs.py) are generated here too.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import datetime
from typing import Any

from hypothesis import strategies as st

from amistate.testing import events
from tests.reliability.common import ACCOUNT, EB_AVAILABLE, IMAGE, PIPELINE, REGION, SNS_AVAILABLE

DETAIL_TYPE = "EC2 Image Builder Image State Change"
SOURCE = "aws.imagebuilder"
TERMINAL = ("AVAILABLE", "FAILED", "CANCELLED")

HUGE = "A" * 200_000
# Independent copies of the documented formats, used only to keep valid values out.
_BUILD_ARN = re.compile(
    r"arn:aws[a-z-]*:imagebuilder:[a-z]{2}(-[a-z]+)+-\d+:\d{12}:image/"
    r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}/\d{1,9}\.\d{1,9}\.\d{1,9}/\d{1,9}"
)
_PIPELINE_ARN = re.compile(
    r"arn:aws[a-z-]*:imagebuilder:[a-z]{2}(-[a-z]+)+-\d+:\d{12}:image-pipeline/"
    r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}"
)
NASTY_STRINGS = [
    "",
    " ",
    "/",
    "..",
    "../../etc/passwd",
    "#",
    "a#b",
    "a/b",
    "linux-x64/../windows",
    "\x00",
    "\n",
    "AVAILABLE\n",
    "available",
    "ＡＶＡＩＬＡＢＬＥ",  # noqa: RUF001 (full-width on purpose)
    "\u202eelbaliava",
    "\ud800",
    "😀" * 64,
    "null",
    "{}",
    "[]",
    "{",
    '{"a":',
    "[" * 5000,
    "NaN",
    "Infinity",
    "1e999",
    "-0",
    HUGE,
    "x" * 5000,
    "\t\r\x1b[31m",
    "%s%s%s%n",
    "${jndi:ldap://x}",
    "'; DROP TABLE t; --",
]

text = st.one_of(
    st.sampled_from(NASTY_STRINGS),
    st.text(max_size=40),
    st.text(st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "So"]), max_size=20),
)
wrong_type = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
value = st.one_of(text, wrong_type)
json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), text),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(text, children, max_size=4)
    ),
    max_leaves=12,
)
extras = st.dictionaries(st.one_of(text, st.sampled_from(["Records", "detail-type"])), value)


def _not(forbidden: str) -> st.SearchStrategy[Any]:
    return value.filter(lambda v: v != forbidden)


def _is_zoned_iso(v: object) -> bool:
    if not isinstance(v, str):
        return False
    try:
        return datetime.fromisoformat(v).tzinfo is not None
    except ValueError:
        return False


bad_time = st.one_of(
    value,
    st.sampled_from(
        [
            "2024-01-18T17:50:56",  # no zone
            "2024-01-18 17:50:56",
            "18/01/2024",
            "2024-13-40T99:99:99Z",
            "0000-01-01T00:00:00Z",
            "1705600256",
        ]
    ),
).filter(lambda v: not _is_zoned_iso(v))


def _is_date_created(v: object) -> bool:
    """Either spelling of Image Builder's ``dateCreated`` (a superset: strptime is lenient)."""
    if not isinstance(v, str):
        return False
    try:
        datetime.strptime(v, "%b %d, %Y %I:%M:%S %p")
    except ValueError:
        return _is_zoned_iso(v)
    return True


#: ``dateCreated`` values that are neither the SNS spelling nor zoned ISO 8601.
bad_date_created = st.one_of(
    value,
    st.sampled_from(
        [
            "Jan 18, 2024 17:21:03",
            "Jan 18, 2024 13:21:03 PM",
            "Feb 30, 2024 5:21:03 PM",
            "Jan 18 2024 5:21:03 PM",
            "Jan 18, 2024 5:21:03 PM UTC",
            "2024-01-18T17:21:03.113",
            "2024-01-18 17:21:03",
            "1705598463113",
        ]
    ),
).filter(lambda v: not _is_date_created(v))

_NAME = st.one_of(
    st.sampled_from(["a/b", "..", "#x", "a#b", "a b", "-lead", "x" * 129, "\x00", "é", "a\nb"]),
    text,
)
bad_build_arn = st.one_of(
    value,
    _NAME.map(lambda n: f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/{n}/1.0.0/3"),
    st.sampled_from(
        [
            f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0",
            f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0/3/4",
            f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0/1234567890",
            f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image-pipeline/spot-runner-linux-x64",
            f"arn:aws:imagebuilder:{REGION}:11112222333:image/spot-runner-linux-x64/1.0.0/3",
            f"arn:aws:ec2:{REGION}:{ACCOUNT}:image/ami-0a1b2c3d4e5f60718",
            f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0/3\n",
            f" arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0/3",
            f"arn:aws:imagebuilder:{REGION.upper()}:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0/3",
        ]
    ),
).filter(lambda v: not (isinstance(v, str) and _BUILD_ARN.fullmatch(v)))

OTHER_ACCOUNT = st.from_regex(r"\d{12}", fullmatch=True).filter(lambda a: a != ACCOUNT)
#: (partition, region, account) that are not this function's: ignored by the contract.
foreign_place = st.one_of(
    st.tuples(st.just("aws"), st.just(REGION), OTHER_ACCOUNT),
    st.tuples(
        st.just("aws"), st.sampled_from(["eu-west-1", "us-east-1", "ap-south-2"]), st.just(ACCOUNT)
    ),
    st.tuples(
        st.just("aws-cn"), st.sampled_from(["cn-north-1", "cn-northwest-1"]), st.just(ACCOUNT)
    ),
    st.tuples(st.just("aws-us-gov"), st.just("us-gov-west-1"), st.just(ACCOUNT)),
    st.tuples(st.just("aws"), st.just("eu-west-1"), OTHER_ACCOUNT),
    st.tuples(
        st.sampled_from(["aws-cn", "aws-us-gov", "aws-iso"]), st.just(REGION), st.just(ACCOUNT)
    ),
)
foreign_build_arn = st.tuples(foreign_place, st.integers(1, 999)).map(
    lambda t: (
        f"arn:{t[0][0]}:imagebuilder:{t[0][1]}:{t[0][2]}:image/spot-runner-linux-x64/1.0.0/{t[1]}"
    )
)
foreign_pipeline_arn = foreign_place.map(
    lambda p: f"arn:{p[0]}:imagebuilder:{p[1]}:{p[2]}:image-pipeline/spot-runner-linux-x64"
)
non_terminal = st.one_of(
    st.sampled_from(
        ["PENDING", "CREATING", "BUILDING", "TESTING", "DISTRIBUTING", "INTEGRATING", "DELETED"]
    ),
    st.from_regex(r"[A-Z_]{1,32}", fullmatch=True),
).filter(lambda s: s not in TERMINAL)
bad_status = st.one_of(
    value, st.sampled_from(["available", "AVAILABLE ", "A" * 33, "AVAIL-ABLE"])
).filter(lambda v: v not in TERMINAL)
bad_ami = st.one_of(
    value,
    st.sampled_from(["ami-", "ami-XYZ", "ami-0a1b2c3d4e5f607181", "AMI-0a1b2c3d", "ami-0a1b2c3"]),
).filter(lambda v: not (isinstance(v, str) and v.startswith("ami-") and len(v) in range(12, 22)))


def _sprinkle(draw: st.DrawFn, event: dict[str, Any]) -> None:
    """Maybe add hostile extra fields to an object (extra fields alone are allowed)."""
    if draw(st.booleans()):
        for key, extra in draw(extras).items():
            event.setdefault(key, extra)


# --- EventBridge ------------------------------------------------------------------------------


@st.composite
def eventbridge(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    event: dict[str, Any] = copy.deepcopy(dict(EB_AVAILABLE))
    kind = draw(
        st.sampled_from(
            [
                "source",
                "detail-type",
                "time",
                "resources",
                "resources[0]",
                "foreign-arn",
                "detail",
                "state",
                "status",
                "non-terminal",
                "missing-key",
                "null",
            ]
        )
    )
    if kind == "source":
        event["source"] = draw(_not(SOURCE))
    elif kind == "detail-type":
        event["detail-type"] = draw(_not(DETAIL_TYPE))
    elif kind == "time":
        event["time"] = draw(bad_time)
    elif kind == "resources":
        event["resources"] = draw(st.one_of(st.just([]), value.filter(lambda v: v != [])))
        if isinstance(event["resources"], list) and event["resources"]:
            event["resources"] = [draw(bad_build_arn)]
    elif kind == "resources[0]":
        event["resources"] = [draw(bad_build_arn), *event["resources"]]
    elif kind == "foreign-arn":
        event["resources"] = [draw(foreign_build_arn)]
        event["detail"]["state"]["status"] = draw(st.sampled_from(TERMINAL))
    elif kind == "detail":
        event["detail"] = draw(value.filter(lambda v: not isinstance(v, dict)) | st.just({}))
    elif kind == "state":
        event["detail"]["state"] = draw(value.filter(lambda v: not isinstance(v, dict)))
    elif kind == "status":
        event["detail"]["state"]["status"] = draw(bad_status)
    elif kind == "non-terminal":
        event["detail"]["state"]["status"] = draw(non_terminal)
    elif kind == "missing-key":
        del event[draw(st.sampled_from(["source", "time", "resources", "detail"]))]
    else:
        key = draw(st.sampled_from(["source", "detail-type", "time", "resources", "detail"]))
        event[key] = None
    _sprinkle(draw, event)
    _sprinkle(draw, event["detail"] if isinstance(event.get("detail"), dict) else {})
    return kind, event


# --- SNS --------------------------------------------------------------------------------------


@st.composite
def image_message(draw: st.DrawFn) -> tuple[str, Any]:
    """An Image Builder notification (the Image object) broken in one way."""
    image: dict[str, Any] = copy.deepcopy(dict(IMAGE))
    kind = draw(
        st.sampled_from(
            [
                "arn",
                "foreign-arn",
                "state",
                "status",
                "non-terminal",
                "pipeline",
                "foreign-pipeline",
                "amis",
                "ami",
                "ami-region",
                "date-created",
                "missing-date-created",
                "missing-key",
                "not-an-object",
            ]
        )
    )
    if kind == "arn":
        image["arn"] = draw(bad_build_arn)
    elif kind == "foreign-arn":
        image["arn"] = draw(foreign_build_arn)
    elif kind == "state":
        image["state"] = draw(value.filter(lambda v: not isinstance(v, dict)))
    elif kind == "status":
        image["state"] = {"status": draw(bad_status)}
    elif kind == "non-terminal":
        image["state"] = {"status": draw(non_terminal)}
    elif kind == "pipeline":
        image["sourcePipelineArn"] = draw(
            (
                value.filter(lambda v: v is not None)
                | _NAME.map(lambda n: f"{PIPELINE.rpartition('/')[0]}/{n}")
            ).filter(lambda v: v != PIPELINE)
        )
    elif kind == "foreign-pipeline":
        # A valid pipeline ARN no preset is mapped to: ignored.
        image["sourcePipelineArn"] = draw(foreign_pipeline_arn)
    elif kind == "amis":
        image["outputResources"] = draw(
            st.one_of(
                value.filter(lambda v: not isinstance(v, dict)),
                value.filter(lambda v: not isinstance(v, list)).map(lambda v: {"amis": v}),
            )
        )
    elif kind == "ami":
        image["outputResources"]["amis"][0]["image"] = draw(bad_ami)
    elif kind == "ami-region":
        image["outputResources"]["amis"][0]["region"] = draw(
            value.filter(lambda v: not isinstance(v, str) or not v.islower() or "-" not in v)
        )
    elif kind == "date-created":
        image["dateCreated"] = draw(bad_date_created)
    elif kind == "missing-date-created":
        del image["dateCreated"]
    elif kind == "missing-key":
        del image[draw(st.sampled_from(["arn", "state"]))]
    else:
        return "image-not-an-object", draw(
            json_value.filter(lambda v: not isinstance(v, dict)) | st.just(None)
        )
    _sprinkle(draw, image)
    return f"image-{kind}", image


def _envelope(message: str, timestamp: Any = "2024-01-18T17:50:57.204Z") -> dict[str, Any]:
    sns = copy.deepcopy(dict(SNS_AVAILABLE["Records"][0]["Sns"]))
    sns["Message"] = message
    sns["Timestamp"] = timestamp
    return sns


@st.composite
def sns_record(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    record: dict[str, Any] = copy.deepcopy(dict(SNS_AVAILABLE["Records"][0]))
    kind = draw(st.sampled_from(["message", "not-json", "timestamp", "envelope", "event-source"]))
    if kind == "message":
        kind, image = draw(image_message())
        record["Sns"]["Message"] = json.dumps(image)
    elif kind == "not-json":
        record["Sns"]["Message"] = draw(
            value.filter(lambda v: not isinstance(v, str) or not _is_json(v))
        )
        kind = "message-not-json"
    elif kind == "timestamp":
        record["Sns"]["Timestamp"] = draw(bad_time)
        kind = "timestamp"
    elif kind == "envelope":
        record["Sns"] = draw(value.filter(lambda v: not isinstance(v, dict)))
        kind = "envelope"
    else:
        record["EventSource"] = draw(_not("aws:sns"))
        kind = "event-source"
    _sprinkle(draw, record)
    return kind, record


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


@st.composite
def sns_event(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    labelled = draw(st.lists(sns_record(), min_size=1, max_size=3))
    event = {"Records": [record for _, record in labelled]}
    return f"sns/{labelled[0][0]}", event


# --- SQS --------------------------------------------------------------------------------------

_message_ids = st.uuids().map(str)


@st.composite
def sqs_record(draw: st.DrawFn, message_id: str) -> tuple[str, dict[str, Any]]:
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:amistate-events"
    record = events.sqs_record("", message_id=message_id, sent=1705600257204, queue_arn=queue)
    kind = draw(
        st.sampled_from(
            ["eventbridge", "sns-envelope", "raw-image", "body-not-json", "timestamp", "source"]
        )
    )
    if kind == "eventbridge":
        kind, inner = draw(eventbridge())
        record["body"] = json.dumps(inner)
    elif kind == "sns-envelope":
        kind, image = draw(image_message())
        record["body"] = json.dumps(_envelope(json.dumps(image)))
    elif kind == "raw-image":
        kind, image = draw(image_message())
        record["body"] = json.dumps(image)
    elif kind == "body-not-json":
        record["body"] = draw(value.filter(lambda v: not isinstance(v, str) or not _is_json(v)))
        kind = "body-not-json"
    elif kind == "timestamp":
        # A raw Image object without dateCreated: the SentTimestamp (here not even epoch
        # milliseconds of years 1-9999) is a delivery time and never stands in for it.
        record["body"] = json.dumps({k: v for k, v in IMAGE.items() if k != "dateCreated"})
        record["attributes"]["SentTimestamp"] = draw(
            st.one_of(
                value.filter(lambda v: not (isinstance(v, str) and v.isdigit())),
                st.from_regex(r"[0-9]{16,400}", fullmatch=True),
                st.sampled_from(["²", "١٢٣", "99999999999999999999", "1705600257204"]),
            )
        )
        kind = "raw-without-date-created"
    else:
        record["eventSource"] = draw(_not("aws:sqs"))
        record["body"] = json.dumps(dict(EB_AVAILABLE))
        kind = "event-source"
    return kind, record


@st.composite
def sqs_event(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    ids = draw(st.lists(_message_ids, min_size=1, max_size=4, unique=True))
    labelled = [draw(sqs_record(message_id)) for message_id in ids]
    return f"sqs/{labelled[0][0]}", {"Records": [record for _, record in labelled]}


@st.composite
def top_level(draw: st.DrawFn) -> tuple[str, Any]:
    kind = draw(st.sampled_from(["json", "records"]))
    if kind == "json":
        event = draw(json_value.filter(lambda v: not isinstance(v, dict) or "Records" not in v))
        return "top/any-json", event
    records = draw(
        st.one_of(st.just([]), value, st.lists(value.filter(lambda v: not isinstance(v, dict))))
    )
    return "top/records", {"Records": records}


lambda_events = st.one_of(
    eventbridge().map(lambda labelled: (f"eventbridge/{labelled[0]}", labelled[1])),
    sns_event(),
    sqs_event(),
    top_level(),
)


# --- custom resource ----------------------------------------------------------------------------

CR_PROPS: dict[str, Any] = {
    "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:amistate-cr",
    "PresetName": "linux-x64",
    "PipelineArn": PIPELINE,
    "Config": json.dumps({"timeout": 3600, "spot": True}),
    "StartBuild": "true",
}
bad_preset = st.one_of(
    value,
    st.sampled_from(["a/b", "..", "a..b", "#", "a#b", "x\x00", "\n", "-x", "x" * 129, "é", " x"]),
    st.text(st.characters(categories=["Cc"]), min_size=1, max_size=3).map(lambda c: f"ok{c}"),
).filter(lambda v: not (isinstance(v, str) and _valid_preset(v)))


def _valid_preset(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", name)) and ".." not in name


bad_pipeline = (
    st.one_of(
        value,
        _NAME.map(lambda n: f"{PIPELINE.rpartition('/')[0]}/{n}"),
        st.just(PIPELINE.replace("image-pipeline", "image")),
    ).filter(lambda v: not (isinstance(v, str) and _PIPELINE_ARN.fullmatch(v)))
    | foreign_pipeline_arn
)
bad_config = st.one_of(
    st.sampled_from(['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}', '{"a": [1e400]}']),
    wrong_type.filter(lambda v: v is not None),
    text.filter(lambda v: not _is_json(v)),
    json_value.filter(lambda v: not isinstance(v, dict)).map(json.dumps),
    st.just(json.dumps({"k": "x" * 9000})),
)
bad_start = value.filter(lambda v: v not in ("true", "false") and not isinstance(v, bool))


@st.composite
def cr_event(draw: st.DrawFn) -> tuple[str, str, Any]:
    """(label, request type, event) of a custom resource request that must be refused."""
    request_type = draw(st.sampled_from(["Create", "Update"]))
    props = copy.deepcopy(CR_PROPS)
    kind = draw(
        st.sampled_from(
            ["PresetName", "PipelineArn", "Config", "StartBuild", "missing", "props", "type"]
        )
    )
    if kind == "PresetName":
        props["PresetName"] = draw(bad_preset)
    elif kind == "PipelineArn":
        props["PipelineArn"] = draw(bad_pipeline)
    elif kind == "Config":
        props["Config"] = draw(bad_config)
    elif kind == "StartBuild":
        props["StartBuild"] = draw(bad_start)
    elif kind == "missing":
        del props[draw(st.sampled_from(["PresetName", "PipelineArn", "Config"]))]
    _sprinkle(draw, props)
    event: dict[str, Any] = {
        "RequestType": request_type,
        "ServiceToken": CR_PROPS["ServiceToken"],
        "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/runners/6f0b2c10",
        "RequestId": str(draw(st.uuids())),
        "LogicalResourceId": "LinuxPreset",
        "ResourceType": "Custom::AmistatePreset",
        "ResourceProperties": props,
    }
    if kind == "props":
        event["ResourceProperties"] = draw(value.filter(lambda v: not isinstance(v, dict)))
    if kind == "type":
        event["RequestType"] = request_type = draw(
            value.filter(lambda v: v not in ("Create", "Update", "Delete"))
        )
    if request_type == "Update":
        event["PhysicalResourceId"] = "amistate:linux-x64"
        event["OldResourceProperties"] = copy.deepcopy(CR_PROPS)
    return f"custom-resource/{kind}", str(request_type)[:16], event


cr_events = cr_event()


@st.composite
def cr_delete(draw: st.DrawFn) -> tuple[str, Any]:
    """A Delete with hostile properties or resource ID: must succeed and keep the state."""
    props = draw(
        st.one_of(
            value,
            st.fixed_dictionaries(
                {"PresetName": bad_preset | st.just("linux-x64"), "PipelineArn": bad_pipeline}
            ),
        )
    )
    resource_id = draw(
        st.one_of(
            value,
            bad_preset.map(lambda p: f"amistate:{p}"),
            st.just("amistate:linux-x64"),
            st.just("amistate-failed:8d1f3a52"),
        )
    )
    event = {
        "RequestType": "Delete",
        "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/runners/6f0b2c10",
        "RequestId": str(draw(st.uuids())),
        "LogicalResourceId": "LinuxPreset",
        "PhysicalResourceId": resource_id,
        "ResourceProperties": props,
    }
    return "custom-resource/delete", event


cr_deletes = cr_delete()
