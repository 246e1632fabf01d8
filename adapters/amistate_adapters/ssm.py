"""SSM parameters of one region: read decrypted, rewrite keeping type, key and tier.

``GetParameter`` returns the type but neither the KMS key nor the tier. The
key matters only for a SecureString (rewriting it without ``KeyId`` would
re-encrypt it with the account's default key), so only then do we spend one
extra ``DescribeParameters`` call, which also tells the tier. A String's tier
is inferred from its size: over 4 KB it must be Advanced; otherwise we send
no ``Tier`` and Parameter Store keeps the account's default-tier rules.

Writes are paced. SSM accepts about 3 ``PutParameter`` per second per account,
so a burst of builds that finish together gets ``ThrottlingException`` even
after botocore's own (standard mode) retries. :meth:`SsmParameterStore.put`
then keeps retrying with full-jitter backoff (a pause drawn from 0 to 0.5 s,
the bound doubling up to 8 s) while the invocation has time left: it re-raises
as soon as less than :data:`SAFETY_MARGIN` seconds would remain after the
pause, so the function still confirms and logs before its timeout. The time
left comes from the runtime's :class:`amistate.deadline.Deadline`, which the
Lambda shim sets per invocation; with no deadline (CLI, tests, scripts) at
most :data:`UNTIMED_RETRIES` paced retries are made.

With a :class:`~amistate_adapters.write_pace.WritePace` (``AMISTATE_SSM_WRITE_RATE``),
every attempt first waits for the process's next write slot, so a function
whose concurrency is capped stays under the account's rate instead of
discovering it by throttles.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from amistate.deadline import Deadline
from amistate.errors import InvalidConfig
from amistate.merge import load_object
from amistate.ports import STANDARD_TIER_LIMIT, Parameter, ParameterType
from amistate_adapters.errors import error_code, permanent_errors
from amistate_adapters.write_pace import WritePace

if TYPE_CHECKING:
    from mypy_boto3_ssm.client import SSMClient
    from mypy_boto3_ssm.literals import ParameterTierType
    from mypy_boto3_ssm.type_defs import PutParameterRequestTypeDef

#: Values above this many bytes need the Advanced tier (standard holds 4 KB).
STANDARD_LIMIT = STANDARD_TIER_LIMIT
NOT_FOUND = "ParameterNotFound"
#: GetParameters takes at most 10 names; DescribeParameters' Name filter 50 values.
GET_BATCH = 10
DESCRIBE_BATCH = 50
#: Error codes a paced write retries: the account's write rate, and too many
#: updates of one parameter at once.
THROTTLED = frozenset({"ThrottlingException", "TooManyUpdates"})
#: The first pause's upper bound, doubled after each throttled attempt up to PACE_MAX.
PACE_FIRST = 0.5
PACE_MAX = 8.0
#: Seconds the invocation must still have after a pause for another attempt.
SAFETY_MARGIN = 5.0
#: Paced retries when there is no deadline (outside an invocation).
UNTIMED_RETRIES = 4


class SsmParameterStore:
    """:class:`amistate.ports.ParameterStore` for the region ``client`` talks to."""

    def __init__(
        self,
        client: SSMClient,
        region: str,
        deadline: Deadline | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float, float], float] = random.uniform,
        pace: WritePace | None = None,
    ) -> None:
        self.client = client
        self.region = region
        #: The invocation's time left (None: never any deadline, bounded retries).
        self.deadline = deadline
        self._sleep = sleep
        self._jitter = jitter
        #: Spaces this process's writes (None: as fast as SSM answers).
        self.pace = pace

    def get(self, name: str) -> Parameter | None:
        try:
            with permanent_errors(f"GetParameter {name}"):
                found = self.client.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        except ClientError as exc:
            if error_code(exc) == NOT_FOUND:
                return None
            raise
        value = found.get("Value", "")
        kind = found.get("Type", "String")
        if kind == "SecureString":
            return self._secure(name, value)
        if kind != "String":
            raise InvalidConfig(f"SSM parameter {name} is a {kind}, not a JSON String")
        tier = "Advanced" if len(value.encode()) > STANDARD_LIMIT else "Standard"
        return Parameter(name=name, value=value, type="String", tier=tier)

    def _secure(self, name: str, value: str) -> Parameter:
        """The one extra call: DescribeParameters for a SecureString's KeyId and tier."""
        with permanent_errors(f"DescribeParameters {name}"):
            described = self.client.describe_parameters(
                ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [name]}]
            ).get("Parameters", [])
        meta = described[0] if described else {}
        return Parameter(
            name=name,
            value=value,
            type="SecureString",
            key_id=meta.get("KeyId"),
            tier=meta.get("Tier") or "Standard",
        )

    def get_many(self, names: Collection[str]) -> Mapping[str, Parameter | None]:
        """``GetParameters`` ten names a call; None for each of ``InvalidParameters``.

        A String's tier is inferred from its size, as in :meth:`get`; the
        SecureStrings among them cost ``DescribeParameters`` calls (50 names
        each, only when there are any) for their KeyId and tier. A
        ``StringList`` is returned as a String with its value (``get`` refuses
        it): one such parameter must not hide the others, and its value is
        refused by the JSON check of whoever uses it.
        """
        wanted = list(dict.fromkeys(names))
        found: dict[str, Parameter | None] = dict.fromkeys(wanted)
        secure: list[str] = []
        for start in range(0, len(wanted), GET_BATCH):
            batch = wanted[start : start + GET_BATCH]
            with permanent_errors(f"GetParameters {batch[0]}..."):
                response = self.client.get_parameters(Names=batch, WithDecryption=True)
            for raw in response.get("Parameters", []):
                name, value = raw.get("Name", ""), raw.get("Value", "")
                if name not in found:
                    continue
                if raw.get("Type") == "SecureString":
                    secure.append(name)
                found[name] = _plain(name, value)
        for name, meta in self._describe(secure).items():
            plain = found[name]
            assert plain is not None
            found[name] = Parameter(
                name=name,
                value=plain.value,
                type="SecureString",
                key_id=meta.get("KeyId"),
                tier=meta.get("Tier") or "Standard",
            )
        return found

    def _describe(self, names: list[str]) -> dict[str, Any]:
        """DescribeParameters (Name Equals, 50 names a call, every page): name -> metadata."""
        described: dict[str, Any] = {}
        for start in range(0, len(names), DESCRIBE_BATCH):
            batch = names[start : start + DESCRIBE_BATCH]
            token: str | None = None
            while True:
                extra = {"NextToken": token} if token else {}
                with permanent_errors(f"DescribeParameters {batch[0]}..."):
                    page = self.client.describe_parameters(
                        ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": batch}],
                        MaxResults=DESCRIBE_BATCH,
                        **extra,  # type: ignore[arg-type]
                    )
                described |= {meta["Name"]: meta for meta in page.get("Parameters", [])}
                token = page.get("NextToken")
                if not token:
                    break
        return {name: described.get(name, {}) for name in names}

    def put(self, name: str, value: str, like: Parameter | None) -> None:
        """Overwrite ``name``; refuse (InvalidConfig, nothing written) a non-object value."""
        load_object(value, f"value for SSM parameter {name}")
        kind: ParameterType = like.type if like else "String"
        size = len(value.encode())
        tier: ParameterTierType | None = None
        if size > STANDARD_LIMIT or (like is not None and like.tier == "Advanced"):
            tier = "Advanced"
        if size > 2 * STANDARD_LIMIT:
            raise InvalidConfig(f"SSM parameter {name}: {size} bytes exceeds the 8 KB limit")
        request: PutParameterRequestTypeDef = {
            "Name": name,
            "Value": value,
            "Type": kind,
            "Overwrite": True,
        }
        if kind == "SecureString" and like is not None and like.key_id:
            request["KeyId"] = like.key_id
        if tier is not None:
            request["Tier"] = tier
        self._paced_put(request)

    def _paced_put(self, request: PutParameterRequestTypeDef) -> None:
        """``PutParameter``; when throttled, back off and retry while time allows."""
        bound = PACE_FIRST
        retries = 0
        while True:
            if self.pace is not None:
                self.pace.wait()
            try:
                with permanent_errors(f"PutParameter {request['Name']}"):
                    self.client.put_parameter(**request)
                return
            except ClientError as exc:
                if error_code(exc) not in THROTTLED:
                    raise
                pause = self._jitter(0.0, bound)
                left = self.deadline.remaining() if self.deadline is not None else None
                if left is None and retries >= UNTIMED_RETRIES:
                    raise
                if left is not None and left - pause < SAFETY_MARGIN:
                    raise
            self._sleep(pause)
            retries += 1
            bound = min(bound * 2, PACE_MAX)


def _plain(name: str, value: str) -> Parameter:
    """A String (or a StringList read as one): the tier inferred from the size."""
    tier = "Advanced" if len(value.encode()) > STANDARD_LIMIT else "Standard"
    return Parameter(name=name, value=value, type="String", tier=tier)


__all__ = [
    "DESCRIBE_BATCH",
    "GET_BATCH",
    "PACE_FIRST",
    "PACE_MAX",
    "SAFETY_MARGIN",
    "STANDARD_LIMIT",
    "THROTTLED",
    "UNTIMED_RETRIES",
    "SsmParameterStore",
]
