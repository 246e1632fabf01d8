"""Hostile and malformed inputs through both Lambda entry points, over counted in-memory ports.

Guarantee: whatever the input, the state Lambda either raises the documented
:class:`~amistate.errors.MalformedEvent` or logs an ignore (SQS: names exactly the malformed
records in ``batchItemFailures``); the custom resource answers FAILED once with a Reason
(Delete: SUCCESS, state kept); nothing is ever written; no other exception type escapes; no
log line carries the planted config secret or exceeds a bounded size.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings

from amistate.errors import AmistateError, MalformedEvent
from amistate.shims import custom_resource, lambda_handler, runtime
from amistate.shims.response import PutPolicy
from amistate.testing.events import sqs_record
from tests.reliability import hostile
from tests.reliability.common import (
    ACCOUNT,
    EB_AVAILABLE,
    PRESET,
    REGION,
    SECRET,
    SNS_AVAILABLE,
    Captured,
    MemoryWorld,
    capture_logs,
    record_figures,
)
from tests.shims.fakes import Context, ResponseServer, running

#: CI-sized: the whole file stays within a few seconds. HOSTILE_EXAMPLES scales it up.
EXAMPLES = int(__import__("os").environ.get("HOSTILE_EXAMPLES", "400"))
MAX_LINE = 16_384
PROFILE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


@pytest.fixture(autouse=True)
def _reset_runtime() -> Iterator[None]:
    yield
    runtime.reset()


def _check_logs(logs: Captured) -> list[dict[str, Any]]:
    assert SECRET not in logs.text()
    for record in logs.records:
        assert len(record.getMessage()) <= MAX_LINE, "a hostile input flooded a log line"
    return logs.decisions()


def run_lambda(world: MemoryWorld, event: Any) -> str:
    """One invocation; the outcome name; fails the test on any contract breach."""
    before = world.snapshot()
    world.calls.clear()
    raised: MalformedEvent | None = None
    result: Any = None
    with capture_logs() as logs:
        try:
            result = lambda_handler.handler(event, Context())
        except MalformedEvent as exc:  # the documented error; anything else fails the test
            raised = exc
    assert world.calls.writes() == [], f"hostile input led to writes: {world.calls.writes()}"
    assert world.snapshot() == before
    decisions = _check_logs(logs)
    assert decisions, "every invocation logs its decision"
    names = {d["decision"] for d in decisions}
    # "rejected": well formed, but Image Builder (GetImage) contradicts it (a mutated field
    # that still parses, e.g. another pipeline): refused, nothing written, not retried.
    assert names <= {"malformed", "ignored", "rejected"}, names
    if raised is not None:
        assert "malformed" in names
        assert raised.path.startswith("$")
        return "MalformedEvent"
    if isinstance(result, dict):  # SQS: exactly the malformed records are named
        failed = [item["itemIdentifier"] for item in result["batchItemFailures"]]
        malformed = [d["messageId"] for d in decisions if d["decision"] == "malformed"]
        assert sorted(failed) == sorted(malformed)
        return "batchItemFailures" if failed else "ignored"
    assert result is None
    assert names <= {"ignored", "rejected"}, names
    return "rejected" if "rejected" in names else "ignored"


def test_state_lambda_refuses_every_hostile_event() -> None:
    tally: Counter[str] = Counter()
    breaks: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()

    @PROFILE
    @given(hostile.lambda_events)
    def run(labelled: tuple[str, Any]) -> None:
        label, event = labelled
        world = MemoryWorld()
        world.install()
        outcome = run_lambda(world, event)
        tally[label.split("/")[0]] += 1
        breaks[label] += 1
        outcomes[outcome] += 1

    run()
    total = sum(tally.values())
    record_figures(
        "hostile",
        {
            "lambda": {
                "inputs": total,
                "by_shape": dict(tally),
                "distinct_breaks": len(breaks),
                "outcomes": dict(outcomes),
            }
        },
    )
    print(f"\nhostile Lambda events tried: {total} {dict(tally)} -> {dict(outcomes)}")
    assert total >= EXAMPLES // 2


def _answers(server: ResponseServer, url: str) -> list[dict[str, Any]]:
    path = urlsplit(url).path
    return [r.body for r in server.all_received() if urlsplit(r.path).path == path]


def test_custom_resource_refuses_every_hostile_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(custom_resource, "POLICY", PutPolicy(timeout=2.0, attempts=2, backoff=0))
    tally: Counter[str] = Counter()
    with running(ResponseServer()) as server:

        @PROFILE
        @given(hostile.cr_events)
        def run(labelled: tuple[str, str, Any]) -> None:
            label, request_type, event = labelled
            world = MemoryWorld()
            world.install()
            before = world.snapshot()
            event["ResponseURL"] = server.response_url()
            event["ResourceProperties"] = _with_secret(event["ResourceProperties"])
            with capture_logs() as logs:
                with pytest.raises(AmistateError) as refused:
                    custom_resource.on_event(event, Context())
                custom_resource.handler(event, Context())
            assert world.calls.writes() == []
            assert world.snapshot() == before
            decisions = _check_logs(logs)
            (answer,) = _answers(server, event["ResponseURL"])
            assert answer["Status"] == "FAILED"
            assert answer["Reason"], "a FAILED answer says why"
            assert SECRET not in answer["Reason"]
            assert str(refused.value)[:200] in answer["Reason"]  # cut to fit 4 KB at most
            if request_type == "Update":
                assert answer["PhysicalResourceId"] == event["PhysicalResourceId"]
            else:
                assert answer["PhysicalResourceId"].startswith("amistate-failed:")
            assert "response-sent" in {d["decision"] for d in decisions}
            tally[label] += 1

        run()

        deletes: Counter[str] = Counter()

        @PROFILE
        @given(hostile.cr_deletes)
        def run_delete(labelled: tuple[str, Any]) -> None:
            label, event = labelled
            world = MemoryWorld()
            world.install()
            records = dict(world.table.records)
            event["ResponseURL"] = server.response_url()
            custom_resource.handler(event, Context())
            (answer,) = _answers(server, event["ResponseURL"])
            assert answer["Status"] == "SUCCESS"
            assert set(world.calls.writes()) <= {"catalog.unregister"}
            assert world.table.records == records, "Delete never drops the AMI state"
            deletes[label] += 1

        run_delete()

    total = sum(tally.values()) + sum(deletes.values())
    record_figures(
        "hostile",
        {
            "custom_resource": {
                "inputs": total,
                "refused_create_update": sum(tally.values()),
                "deletes_succeeded": sum(deletes.values()),
                "by_property": dict(tally),
            }
        },
    )
    print(f"\nhostile custom-resource requests tried: {total} {dict(tally)}")
    assert total >= EXAMPLES


def _with_secret(props: Any) -> Any:
    """Plant the secret in a Config that is otherwise left as generated."""
    if isinstance(props, dict) and props.get("Config") == hostile.CR_PROPS["Config"]:
        return {**props, "Config": json.dumps({"timeout": 3600, "token": SECRET})}
    return props


@pytest.mark.parametrize(
    "name",
    ["a/b", "..", "a..b", "#", "x#y", "../etc", "x\x00", "x\n", "x\x1b", "\u202ex", "", " x"],
)
def test_hostile_preset_names_are_refused_before_any_write(name: str) -> None:
    world = MemoryWorld()
    world.install()
    props = {**hostile.CR_PROPS, "PresetName": name}
    event = {"RequestType": "Create", "RequestId": "r", "ResourceProperties": props}
    with pytest.raises(AmistateError, match="PresetName"):
        custom_resource.on_event(event, Context())
    assert world.calls.writes() == []


def test_sns_message_that_is_not_json_is_malformed() -> None:
    world = MemoryWorld()
    world.install()
    event = json.loads(json.dumps(SNS_AVAILABLE))
    event["Records"][0]["Sns"]["Message"] = "<xml>not json</xml>"
    with pytest.raises(MalformedEvent, match=r"Records\[0\]\.Sns\.Message"):
        lambda_handler.handler(event, Context())
    assert world.calls.names == []


def test_a_10000_record_sqs_batch_names_exactly_the_bad_records() -> None:
    world = MemoryWorld()
    world.install()
    building = json.loads(json.dumps(EB_AVAILABLE))
    building["detail"]["state"]["status"] = "BUILDING"
    foreign = json.loads(json.dumps(EB_AVAILABLE))
    foreign["resources"] = [foreign["resources"][0].replace(ACCOUNT, "999988887777")]
    bodies = ["{not json", json.dumps(building), json.dumps(foreign)]
    records = [
        sqs_record(bodies[i % 3], message_id=f"m-{i}", sent=1705600257204) for i in range(10_000)
    ]
    started = time.perf_counter()
    with capture_logs() as logs:
        result = lambda_handler.handler({"Records": records}, Context())
    elapsed = time.perf_counter() - started
    assert result is not None
    failed = [item["itemIdentifier"] for item in result["batchItemFailures"]]
    assert failed == [f"m-{i}" for i in range(0, 10_000, 3)]
    assert world.calls.writes() == []
    assert world.calls.names == [], "ignored records are decided before any AWS call"
    decisions = Counter(d["decision"] for d in logs.decisions())
    assert decisions == Counter({"ignored": 6666, "malformed": 3334})
    record_figures(
        "hostile",
        {"sqs_10000": {"records": 10_000, "failed": len(failed), "seconds": round(elapsed, 2)}},
    )
    print(f"\n10,000-record SQS batch: {len(failed)} named, {elapsed:.2f} s")


def test_events_of_other_accounts_and_regions_make_no_aws_call() -> None:
    """The trust boundary is checked before any port is touched."""
    for arn in [
        f"arn:aws:imagebuilder:{REGION}:999988887777:image/spot-runner-linux-x64/1.0.0/3",
        f"arn:aws:imagebuilder:eu-west-1:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0/3",
        f"arn:aws-cn:imagebuilder:cn-north-1:{ACCOUNT}:image/spot-runner-linux-x64/1.0.0/3",
    ]:
        world = MemoryWorld()
        world.install()
        event = json.loads(json.dumps(EB_AVAILABLE))
        event["resources"] = [arn]
        with capture_logs() as logs:
            assert lambda_handler.handler(event, Context()) is None
        assert world.calls.names == []
        (line,) = logs.decisions()
        assert line["decision"] == "ignored"
        assert world.table.records[PRESET].ami_id is None
