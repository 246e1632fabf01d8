"""Other writers of a preset's SSM parameter, hooked onto the client amistate's adapter uses.

* :class:`ForeignWrite`: another tool's read-modify-write that lands between amistate's
  ``GetParameter`` and its ``PutParameter`` (botocore's ``before-parameter-build.ssm.PutParameter``
  on amistate's client runs it, over HTTP, through a client of its own), once, at the first
  ``PutParameter`` amistate makes after :meth:`ForeignWrite.arm`.
* :class:`TierRule`: Parameter Store's tier rule that moto's server does not apply. AWS
  documents that a ``PutParameter`` naming no ``Tier`` takes the account's default tier
  (``Standard`` unless changed) and that an Advanced parameter can never be reverted to
  Standard; such a write is refused with ``ValidationException`` ("You can't downgrade a
  parameter from the advanced-parameter tier to the standard-parameter tier"). moto keeps the
  old tier instead. ``before-send`` answers that refusal for a write to an Advanced parameter
  naming no tier or ``Standard``, as ``tests/reliability/faults.py`` answers its faults.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders

Edit = Callable[[dict[str, Any]], dict[str, Any]]
DOWNGRADE = (
    "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the "
    "advanced-parameter tier to the standard-parameter tier."
)


class ForeignWrite:
    """Another tool's read-modify-write of ``name``, run once when armed."""

    def __init__(self, raw: Any, name: str, edit: Edit) -> None:
        self.raw = raw  # the other tool's own client (to the same server)
        self.name = name
        self.edit = edit
        self.armed = False
        self.done = 0
        self.seen: list[dict[str, Any]] = []  # amistate's PutParameter requests
        self._lock = threading.Lock()

    def attach(self, client: Any) -> None:
        tag = f"amistate-foreign-{id(self)}"
        client.meta.events.register(
            "before-parameter-build.ssm.PutParameter", self._before_put, unique_id=tag
        )

    def arm(self) -> None:
        self.armed = True

    def _before_put(self, params: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.seen.append(dict(params))
            if not self.armed or params.get("Name") != self.name:
                return
            self.armed = False
        value = json.loads(self.raw.get_parameter(Name=self.name)["Parameter"]["Value"])
        self.raw.put_parameter(
            Name=self.name, Value=json.dumps(self.edit(value)), Type="String", Overwrite=True
        )
        self.done += 1


class TierRule:
    """Refuse, as Parameter Store does, a write that would make an Advanced parameter Standard."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.refused = 0

    def attach(self, client: Any) -> None:
        tag = f"amistate-tier-rule-{id(self)}"
        client.meta.events.register_first(
            "before-send.ssm.PutParameter", self._before_send, unique_id=tag
        )

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        body = json.loads(request.body)
        if body.get("Tier") not in (None, "Standard") or not self._advanced(body["Name"]):
            return None
        self.refused += 1
        payload = json.dumps({"__type": "ValidationException", "message": DOWNGRADE}).encode()
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/x-amz-json-1.1"
        headers["x-amzn-RequestId"] = "tier-rule"
        headers["Content-Length"] = str(len(payload))
        return AWSResponse(request.url, 400, headers, _Body(payload))

    def _advanced(self, name: str) -> bool:
        flt = [{"Key": "Name", "Option": "Equals", "Values": [name]}]
        found = self.raw.describe_parameters(ParameterFilters=flt)["Parameters"]
        return bool(found) and found[0].get("Tier") == "Advanced"


class _Body:
    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.payload


def tier_of(raw: Any, name: str) -> str:
    """The parameter's tier as Parameter Store reports it (``DescribeParameters``)."""
    flt = [{"Key": "Name", "Option": "Equals", "Values": [name]}]
    [found] = raw.describe_parameters(ParameterFilters=flt)["Parameters"]
    return str(found["Tier"])
