"""The ResponseURL PUT: size limit, retries, give-up, timeout, exactly once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest

from amistate.shims.response import MAX_BODY_BYTES, PutPolicy, Responder, body, put
from tests.shims.fakes import ResponseServer, running

FAST = PutPolicy(timeout=2.0, attempts=4, backoff=0.01, max_backoff=0.02)
EVENT = {
    "StackId": "arn:aws:cloudformation:us-west-2:111122223333:stack/s/1",
    "RequestId": "req-1",
    "LogicalResourceId": "Preset",
}


@pytest.fixture
def server() -> Iterator[ResponseServer]:
    with running(ResponseServer()) as s:
        yield s


def test_body_carries_the_request_identity() -> None:
    document = json.loads(body(EVENT, "SUCCESS", "amistate:p", data={"BuildArn": "x"}))
    assert document == {
        "Status": "SUCCESS",
        "Reason": "",
        "PhysicalResourceId": "amistate:p",
        "StackId": EVENT["StackId"],
        "RequestId": "req-1",
        "LogicalResourceId": "Preset",
        "NoEcho": False,
        "Data": {"BuildArn": "x"},
    }


@pytest.mark.parametrize("reason", ["x" * 10_000, 'é"\n' * 5_000, "\x00" * 9_000])
def test_a_long_reason_is_cut_to_fit_4096_bytes(reason: str) -> None:
    encoded = body(EVENT, "FAILED", "amistate:p", reason)
    assert len(encoded) <= MAX_BODY_BYTES
    document = json.loads(encoded)
    assert document["Reason"].endswith("[...]")
    assert reason.startswith(document["Reason"].removesuffix(" [...]"))
    assert len(encoded) > MAX_BODY_BYTES - 16  # cut, not emptied


def test_put_sends_an_empty_content_type(server: ResponseServer) -> None:
    delivery = put(server.response_url(), body(EVENT, "SUCCESS", "id"), FAST)
    assert delivery.delivered and delivery.attempts == 1
    (received,) = server.all_received()
    assert received.headers["Content-Type"] == ""
    assert received.body["Status"] == "SUCCESS"


def test_put_retries_5xx_then_succeeds(server: ResponseServer) -> None:
    server.script = [500, 503]
    delivery = put(server.response_url(), body(EVENT, "SUCCESS", "id"), FAST)
    assert delivery.delivered and delivery.attempts == 3
    assert len(server.all_received()) == 1


def test_put_gives_up_after_a_bounded_number_of_5xx(server: ResponseServer) -> None:
    server.default = 500
    delivery = put(server.response_url(), body(EVENT, "FAILED", "id"), FAST)
    assert not delivery.delivered
    assert delivery.attempts == FAST.attempts == server.attempt_count()
    assert delivery.last == "HTTP 500"


def test_put_does_not_retry_a_4xx(server: ResponseServer) -> None:
    server.default = 403
    delivery = put(server.response_url(), body(EVENT, "FAILED", "id"), FAST)
    assert not delivery.delivered
    assert delivery.attempts == 1 == server.attempt_count()


def test_put_times_out_on_a_hanging_url_and_gives_up(server: ResponseServer) -> None:
    server.default = "hang"
    policy = PutPolicy(timeout=0.2, attempts=2, backoff=0.01)
    started = time.monotonic()
    delivery = put(server.response_url(), body(EVENT, "FAILED", "id"), policy)
    assert not delivery.delivered and delivery.attempts == 2
    assert "timed out" in delivery.last.lower()
    assert time.monotonic() - started < 5


def test_put_never_outlives_its_deadline(server: ResponseServer) -> None:
    server.default = "hang"
    policy = PutPolicy(timeout=30, attempts=5, backoff=0.01)
    started = time.monotonic()
    delivery = put(server.response_url(), b"{}", policy, deadline=started + 0.3)
    assert not delivery.delivered
    assert time.monotonic() - started < 5


def test_put_refuses_other_schemes() -> None:
    delivery = put("file:///etc/passwd", b"{}", FAST)
    assert not delivery.delivered and delivery.attempts == 0


def test_put_to_a_dead_port_is_bounded() -> None:
    with running(ResponseServer()) as s:
        url = s.response_url()
    delivery = put(url, b"{}", FAST)
    assert not delivery.delivered and delivery.attempts == FAST.attempts


def test_responder_answers_exactly_once_under_a_race(server: ResponseServer) -> None:
    responder = Responder({**EVENT, "ResponseURL": server.response_url()}, FAST)
    barrier = threading.Barrier(8)
    results: list[bool] = []

    def send(i: int) -> None:
        barrier.wait()
        results.append(responder.send("SUCCESS" if i % 2 else "FAILED", f"id-{i}"))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    assert len(server.all_received()) == 1


def test_the_presigned_url_is_not_logged(
    server: ResponseServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="amistate")
    Responder({**EVENT, "ResponseURL": server.response_url()}, FAST).send("SUCCESS", "id")
    assert "X-Amz-Signature" not in caplog.text
    assert "secret" not in caplog.text
