"""SsmParameterStore.put paces throttled writes within the invocation's remaining time.

botocore's Stubber answers the calls (no network); the sleep, the jitter and
the clock are injected, so nothing here waits.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from amistate_adapters import ssm
from amistate_adapters.ssm import SsmParameterStore
from amistate_adapters.write_pace import WritePace
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from amistate.core.deadline import Deadline
from amistate.errors import MalformedEvent

NAME = "/spot-runner/configs/linux-x64"
VALUE = '{"amiId": "ami-0123456789abcdef0"}'
EXPECTED = {"Name": NAME, "Value": VALUE, "Type": "String", "Overwrite": True}


class FakeTime:
    """A clock and a sleep that advances it: what the adapter waited, without waiting."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.pauses: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


@pytest.fixture
def time_() -> FakeTime:
    return FakeTime()


@pytest.fixture
def client(aws_env: None) -> Any:
    # botocore's own retries off: each stubbed answer is one attempt of the adapter's.
    return boto3.session.Session().client(
        "ssm", region_name="us-west-2", config=Config(retries={"total_max_attempts": 1})
    )


def _throttle(stubber: Stubber, code: str = "ThrottlingException") -> None:
    stubber.add_client_error(
        "put_parameter",
        service_error_code=code,
        service_message="Rate exceeded",
        http_status_code=400,
    )


def _ok(stubber: Stubber) -> None:
    stubber.add_response("put_parameter", {"Version": 2, "Tier": "Standard"}, EXPECTED)


def _store(client: Any, time_: FakeTime, deadline: Deadline | None) -> SsmParameterStore:
    # The jitter returns its upper bound, so the pauses show the backoff schedule.
    return SsmParameterStore(
        client, "us-west-2", deadline, sleep=time_.sleep, jitter=lambda low, high: high
    )


def test_throttled_twice_then_written(client: Any, time_: FakeTime) -> None:
    deadline = Deadline(time_.clock)
    store = _store(client, time_, deadline)
    with Stubber(client) as stubber:
        _throttle(stubber)
        _throttle(stubber, "TooManyUpdates")
        _ok(stubber)
        with deadline.running(lambda: 30_000):
            store.put(NAME, VALUE, None)
        stubber.assert_no_pending_responses()
    assert time_.pauses == [0.5, 1.0]


def test_a_deadline_too_close_re_raises_at_once(client: Any, time_: FakeTime) -> None:
    deadline = Deadline(time_.clock)
    store = _store(client, time_, deadline)
    with Stubber(client) as stubber:
        _throttle(stubber)
        _ok(stubber)  # never reached
        # 5.4 s left: a pause of 0.5 s would leave 4.9 s, under the 5 s margin.
        with deadline.running(lambda: 5_400), pytest.raises(ClientError) as raised:
            store.put(NAME, VALUE, None)
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert time_.pauses == []


def test_retries_stop_when_the_next_pause_would_eat_the_margin(
    client: Any, time_: FakeTime
) -> None:
    deadline = Deadline(time_.clock)
    store = _store(client, time_, deadline)
    with Stubber(client) as stubber:
        for _ in range(5):
            _throttle(stubber)
        # 9 s left: pauses 0.5, 1 and 2 fit (5.5 s left); a 4 s pause would leave 1.5 s.
        with deadline.running(lambda: 9_000), pytest.raises(ClientError):
            store.put(NAME, VALUE, None)
    assert time_.pauses == [0.5, 1.0, 2.0]


def test_the_backoff_bound_doubles_to_eight_seconds(client: Any, time_: FakeTime) -> None:
    deadline = Deadline(time_.clock)
    store = _store(client, time_, deadline)
    with Stubber(client) as stubber:
        for _ in range(7):
            _throttle(stubber)
        _ok(stubber)
        with deadline.running(lambda: 900_000):
            store.put(NAME, VALUE, None)
        stubber.assert_no_pending_responses()
    assert time_.pauses == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_the_pause_is_full_jitter_below_the_bound(client: Any, time_: FakeTime) -> None:
    bounds: list[tuple[float, float]] = []

    def jitter(low: float, high: float) -> float:
        bounds.append((low, high))
        return high / 4

    store = SsmParameterStore(client, "us-west-2", None, sleep=time_.sleep, jitter=jitter)
    with Stubber(client) as stubber:
        _throttle(stubber)
        _throttle(stubber)
        _ok(stubber)
        store.put(NAME, VALUE, None)
    assert bounds == [(0.0, 0.5), (0.0, 1.0)]
    assert time_.pauses == [0.125, 0.25]


def test_without_a_deadline_the_retries_are_bounded(client: Any, time_: FakeTime) -> None:
    deadline = Deadline(time_.clock)  # never started: no deadline
    store = _store(client, time_, deadline)
    with Stubber(client) as stubber:
        for _ in range(ssm.UNTIMED_RETRIES + 2):
            _throttle(stubber)
        with pytest.raises(ClientError):
            store.put(NAME, VALUE, None)
    assert time_.pauses == [0.5, 1.0, 2.0, 4.0][: ssm.UNTIMED_RETRIES]
    assert len(time_.pauses) == ssm.UNTIMED_RETRIES


def test_other_errors_are_not_retried(client: Any, time_: FakeTime) -> None:
    deadline = Deadline(time_.clock)
    store = _store(client, time_, deadline)
    with Stubber(client) as stubber:
        stubber.add_client_error(
            "put_parameter", service_error_code="InternalServerError", http_status_code=500
        )
        with deadline.running(lambda: 30_000), pytest.raises(ClientError):
            store.put(NAME, VALUE, None)
    assert time_.pauses == []


def test_the_deadline_is_per_invocation_and_per_thread(time_: FakeTime) -> None:
    import threading

    deadline = Deadline(time_.clock)
    assert deadline.remaining() is None
    seen: list[float | None] = []
    with deadline.running(lambda: 12_000):
        time_.now += 2.0
        assert deadline.remaining() == pytest.approx(10.0)
        other = threading.Thread(target=lambda: seen.append(deadline.remaining()))
        other.start()
        other.join()
        with deadline.running(None):
            assert deadline.remaining() is None
        assert deadline.remaining() == pytest.approx(10.0)
    assert seen == [None]
    assert deadline.remaining() is None


@pytest.mark.parametrize("answer", [None, "12", -1, float("nan"), True])
def test_a_context_without_a_usable_remaining_time_means_no_deadline(answer: object) -> None:
    deadline = Deadline()
    with deadline.running(lambda: answer):
        assert deadline.remaining() is None


def test_the_lambda_handler_sets_the_runtime_deadline_per_invocation(
    time_: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from amistate.shims import lambda_handler, runtime

    rt = SimpleNamespace(deadline=Deadline(time_.clock))
    seen: list[float | None] = []

    def parse(event: Any) -> Any:
        seen.append(rt.deadline.remaining())
        raise MalformedEvent("", "stop here")

    class Context:
        invoked_function_arn = "arn:aws:lambda:us-west-2:111122223333:function:amistate-state"
        aws_request_id = "r-1"
        function_name = "amistate-state"

        def get_remaining_time_in_millis(self) -> int:
            return 27_500

    monkeypatch.setattr(lambda_handler, "parse_invocation", parse)
    monkeypatch.setattr(runtime, "get", lambda context: rt)
    with pytest.raises(MalformedEvent):
        lambda_handler.handler({}, Context())
    assert seen == [pytest.approx(27.5)]
    assert rt.deadline.remaining() is None


def test_an_ami_parameter_write_is_paced_and_retried_like_the_json_one(
    client: Any, time_: FakeTime
) -> None:
    """``put_ami`` shares the process's write pace and the throttle backoff."""
    pace = WritePace(2.0, clock=time_.clock, sleep=time_.sleep)
    store = SsmParameterStore(
        client, "us-west-2", None, sleep=time_.sleep, jitter=lambda low, high: high, pace=pace
    )
    name, ami = "/spot-runner/amis/linux-x64", "ami-0123456789abcdef0"
    expected = {
        "Name": name,
        "Value": ami,
        "Type": "String",
        "DataType": "aws:ec2:image",
        "Overwrite": True,
    }
    with Stubber(client) as stubber:
        _ok(stubber)  # the JSON parameter's write: the first slot
        _throttle(stubber)
        stubber.add_response("put_parameter", {"Version": 3, "Tier": "Standard"}, expected)
        store.put(NAME, VALUE, None)
        assert store.put_ami(name, ami).version == 3
        stubber.assert_no_pending_responses()
    # Its slot 0.5 s after the JSON write; throttled: a 0.5 s backoff; its next slot is past.
    assert time_.pauses == [0.5, 0.5]
