"""Fault injection at the N-th AWS call of an invocation, with botocore event hooks.

:class:`Injector` hooks the real boto3 clients the adapters use (pointed at moto's server and
the shims' Image Builder fake). Calls are counted with ``before-call`` (once per API call,
whatever botocore's retries do); the armed call N then fails *on every attempt*, so the fault
outlasts botocore's retries and surfaces:

* ``throttling``: ``before-send`` answers HTTP 400 ``ThrottlingException`` (an ``AWSResponse``);
* ``http-500``: ``before-send`` answers HTTP 500 ``InternalServerError``;
* ``connection-reset``: ``before-send`` raises ``ConnectionClosedError`` (request never arrives);
* ``read-timeout``: the request *is* sent and processed, then ``ReadTimeoutError`` is raised
  (the response is lost: the dangerous kind, a write that happened but looks failed);
* ``crash-after``: ``after-call`` raises :class:`Crash`, a ``BaseException`` no ``except
  Exception`` catches: the process dies right after call N completed;
* ``access-denied`` (the reconcile matrix only, :data:`RECONCILE_FAULTS`): ``before-send``
  answers HTTP 400 ``AccessDeniedException`` (an IAM policy lacking the call; not retried).

EC2 speaks XML: there the same faults answer with EC2's own codes and body
(``RequestLimitExceeded`` HTTP 503, ``InternalError`` HTTP 500, ``UnauthorizedOperation``
HTTP 403), so botocore parses and retries them as it would EC2's.

The clients keep the production configuration (``amistate_adapters.clients.client_config``:
standard mode, 4 attempts); :func:`instant_retries` only removes the backoff sleeps and the
retry quota, so every faulted call makes all its attempts, instantly and deterministically.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from botocore.httpsession import URLLib3Session

FAULTS = ("throttling", "http-500", "connection-reset", "read-timeout", "crash-after")
#: The reconcile matrix's kinds: the event matrix's, and a call IAM does not allow.
RECONCILE_FAULTS = (*FAULTS, "access-denied")
#: The error answered for a fault: (HTTP status, code), for JSON protocols and for EC2.
_ERRORS = {
    "throttling": ((400, "ThrottlingException"), (503, "RequestLimitExceeded")),
    "http-500": ((500, "InternalServerError"), (500, "InternalError")),
    "access-denied": ((400, "AccessDeniedException"), (403, "UnauthorizedOperation")),
}


class Crash(BaseException):
    """The Lambda process died (killed, out of memory, timed out) right after an AWS call."""


class _Body:
    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.payload


def _error_response(url: str, status: int, code: str, message: str, ec2: bool) -> AWSResponse:
    headers = HTTPHeaders()
    if ec2:
        payload = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            f"<Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>fault-injected</RequestID></Response>"
        ).encode()
        headers["Content-Type"] = "text/xml;charset=UTF-8"
        headers["Content-Length"] = str(len(payload))
        return AWSResponse(url, status, headers, _Body(payload))
    payload = json.dumps({"__type": code, "message": message}).encode()
    headers["Content-Type"] = "application/x-amz-json-1.0"
    headers["x-amzn-ErrorType"] = f"{code}:"
    headers["x-amzn-RequestId"] = "fault-injected"
    headers["Content-Length"] = str(len(payload))
    return AWSResponse(url, status, headers, _Body(payload))


class Injector:
    """Counts the AWS calls of an invocation and fails the armed one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plan: tuple[int, str] | None = None
        self.count = 0
        self.operations: list[str] = []
        self.attempts_failed = 0
        self._sender = URLLib3Session()

    def attach(self, client: Any) -> None:
        events = client.meta.events
        tag = f"amistate-fault-{id(self)}"
        events.register("before-call", self._before_call, unique_id=f"{tag}-call")
        events.register_first("before-send", self._before_send, unique_id=f"{tag}-send")
        events.register("after-call", self._after_call, unique_id=f"{tag}-after")

    def arm(self, call: int, fault: str) -> None:
        assert fault in RECONCILE_FAULTS
        with self._lock:
            self._plan = (call, fault)
            self.count = 0
            self.operations = []
            self.attempts_failed = 0

    def disarm(self) -> None:
        with self._lock:
            self._plan = None
            self.count = 0
            self.operations = []

    def _targeted(self) -> str | None:
        with self._lock:
            if self._plan is not None and self.count == self._plan[0]:
                return self._plan[1]
            return None

    def _before_call(self, model: Any, **_: Any) -> None:
        with self._lock:
            self.count += 1
            self.operations.append(str(model.name))

    def _before_send(self, request: Any, event_name: str = "", **_: Any) -> AWSResponse | None:
        fault = self._targeted()
        if fault is None or fault == "crash-after":
            return None
        with self._lock:
            self.attempts_failed += 1
        if fault in _ERRORS:
            ec2 = event_name.split(".")[1:2] == ["ec2"]
            status, code = _ERRORS[fault][1 if ec2 else 0]
            return _error_response(request.url, status, code, f"injected {fault}", ec2)
        if fault == "connection-reset":
            raise ConnectionClosedError(endpoint_url=request.url)
        # read-timeout: the server gets and applies the request; its answer is lost.
        self._sender.send(request)
        raise ReadTimeoutError(endpoint_url=request.url)

    def _after_call(self, **_: Any) -> None:
        if self._targeted() == "crash-after":
            raise Crash(f"process died after AWS call {self.count} ({self.operations[-1]})")


def is_the_fault(exc: BaseException, fault: str) -> bool:
    """Whether ``exc`` is what ``fault`` must surface as (not swallowed, not reclassified)."""
    if fault == "crash-after":
        return isinstance(exc, Crash)
    if fault == "connection-reset":
        return isinstance(exc, ConnectionClosedError)
    if fault == "read-timeout":
        return isinstance(exc, ReadTimeoutError)
    codes = {code for _, code in _ERRORS[fault]}
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in codes


@contextmanager
def instant_retries() -> Iterator[None]:
    """botocore's retries without their sleeps or quota (same attempts, same decisions)."""
    from botocore.retries import quota, standard

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)
        mp.setattr(quota.RetryQuota, "acquire", lambda self, capacity_amount: True)
        yield
