"""The answer to CloudFormation: one PUT of a JSON body to the pre-signed ResponseURL.

* The body is at most 4096 bytes: the ``Reason`` is cut to fit.
* The PUT has a timeout and a bounded number of attempts; it retries
  connection errors, timeouts, 5xx, 408 and 429 with exponential backoff, and
  gives up at once on other 4xx (the URL is wrong or expired: retrying cannot
  help). It never outlives the deadline it is given.
* :class:`Responder` answers exactly once: whichever of the work and the
  deadline timer asks first sends; every later request is dropped.

The pre-signed URL is a credential: only its host is ever logged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any, Literal

from attrs import frozen

from amistate.shims import logs

Status = Literal["SUCCESS", "FAILED"]
MAX_BODY_BYTES = 4096
_CUT = " [...]"
_RETRY_STATUSES = frozenset({408, 429})


@frozen
class PutPolicy:
    """How hard to try: per-attempt timeout, attempts, backoff (seconds)."""

    timeout: float = 10.0
    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 4.0


DEFAULT_POLICY = PutPolicy()


@frozen
class Delivery:
    """How a PUT ended: ``delivered``, after ``attempts``, last HTTP status or error."""

    delivered: bool
    attempts: int
    last: str


def body(
    event: Mapping[str, Any],
    status: Status,
    physical_id: str,
    reason: str = "",
    data: Mapping[str, str] | None = None,
) -> bytes:
    """The response document, cut to :data:`MAX_BODY_BYTES` by shortening ``Reason``."""
    document: dict[str, Any] = {
        "Status": status,
        "Reason": "",
        "PhysicalResourceId": physical_id,
        "StackId": event.get("StackId", ""),
        "RequestId": event.get("RequestId", ""),
        "LogicalResourceId": event.get("LogicalResourceId", ""),
        "NoEcho": False,
        "Data": dict(data or {}),
    }

    def encode(text: str) -> bytes:
        document["Reason"] = text
        return json.dumps(document, ensure_ascii=True, separators=(",", ":")).encode()

    encoded = encode(reason)
    if len(encoded) <= MAX_BODY_BYTES:
        return encoded
    if len(encode(_CUT)) > MAX_BODY_BYTES:
        document["Data"] = {}  # never happens with amistate's own Data; stay valid anyway
    # Binary search for the longest prefix of the reason that fits.
    low, high = 0, len(reason)
    while low < high:
        middle = (low + high + 1) // 2
        if len(encode(reason[:middle] + _CUT)) <= MAX_BODY_BYTES:
            low = middle
        else:
            high = middle - 1
    return encode(reason[:low] + _CUT)


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc.rpartition("@")[2]


def put(
    url: str, payload: bytes, policy: PutPolicy = DEFAULT_POLICY, deadline: float | None = None
) -> Delivery:
    """PUT ``payload`` to ``url`` under ``policy``, never past ``deadline`` (time.monotonic)."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("https", "http"):
        return Delivery(False, 0, f"refused: ResponseURL scheme {scheme[:16]!r}")
    last = "not attempted"
    attempt = 0
    for attempt in range(1, policy.attempts + 1):
        timeout = policy.timeout
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                return Delivery(False, attempt - 1, f"{last}; out of time")
        request = urllib.request.Request(  # noqa: S310 (scheme checked above)
            url,
            data=payload,
            method="PUT",
            # The pre-signed URL was signed without a content type: send an empty one.
            headers={"Content-Type": "", "Content-Length": str(len(payload))},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                response.read()
                return Delivery(True, attempt, str(response.status))
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
            if exc.code < 500 and exc.code not in _RETRY_STATUSES:
                return Delivery(False, attempt, f"{last} (not retried)")
        except (urllib.error.URLError, OSError) as exc:
            last = f"{type(exc).__name__}: {exc}"[:200]
        if attempt < policy.attempts:
            pause = min(policy.backoff * 2 ** (attempt - 1), policy.max_backoff)
            if deadline is not None:
                pause = min(pause, max(0.0, deadline - time.monotonic()))
            time.sleep(pause)
    return Delivery(False, attempt, last)


class Responder:
    """Sends the one response of one custom-resource request.

    :meth:`send` is safe to call from the work and from the deadline timer at
    the same time: the first caller claims the answer, the others get False.
    """

    def __init__(
        self,
        event: Mapping[str, Any],
        policy: PutPolicy = DEFAULT_POLICY,
        deadline: float | None = None,
    ) -> None:
        self.event = event
        self.policy = policy
        self.deadline = deadline
        self._lock = threading.Lock()
        self._claimed: Status | None = None
        self.delivery: Delivery | None = None

    @property
    def answered(self) -> Status | None:
        """The status that was (or is being) sent, if any."""
        with self._lock:
            return self._claimed

    def send(
        self,
        status: Status,
        physical_id: str,
        reason: str = "",
        data: Mapping[str, str] | None = None,
    ) -> bool:
        """Send once; False (and nothing sent) when an answer was already claimed."""
        with self._lock:
            if self._claimed is not None:
                return False
            self._claimed = status
        url = self.event.get("ResponseURL")
        payload = body(self.event, status, physical_id, reason, data)
        if not isinstance(url, str) or not url:
            delivery = Delivery(False, 0, "no ResponseURL in the event")
        else:
            delivery = put(url, payload, self.policy, self.deadline)
        self.delivery = delivery
        logs.decision(
            logging.INFO if delivery.delivered else logging.ERROR,
            decision="response-sent" if delivery.delivered else "response-not-delivered",
            responseStatus=status,
            requestId=self.event.get("RequestId"),
            logicalResourceId=self.event.get("LogicalResourceId"),
            physicalResourceId=physical_id,
            responseHost=_host(url) if isinstance(url, str) else None,
            attempts=delivery.attempts,
            result=delivery.last,
            bytes=len(payload),
        )
        return True


__all__ = ["DEFAULT_POLICY", "MAX_BODY_BYTES", "Delivery", "PutPolicy", "Responder", "body", "put"]
