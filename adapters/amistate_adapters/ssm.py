"""SSM parameters of one region: read decrypted, rewrite keeping type, key and tier.

``GetParameter`` returns the type and the version but neither the KMS key nor
the tier. The key matters only for a SecureString (rewriting it without
``KeyId`` would re-encrypt it with the account's default key), so only then do
we spend one extra ``DescribeParameters`` call, which also tells the tier. A
String's tier is left unknown (None), never inferred from its size: a write
names a tier only when it was read, or when the value needs Advanced (over
4 KB). A write that names no tier follows Parameter Store's default-tier
setting, which cannot turn an Advanced parameter Standard: when Parameter Store
refuses the write for that reason, :meth:`SsmParameterStore.put` reads the
tier (``GetParameterHistory``, the newest version's) and writes again naming
Advanced. So the common write costs no extra call, and an Advanced parameter
stays Advanced.

``PutParameter`` answers with the version it made; ``GetParameterHistory``
gives the versions in between (:meth:`SsmParameterStore.history`), which is
how the service finds another writer's write between its read and its write.

Writes are paced. SSM accepts about 3 ``PutParameter`` per second per account,
so a burst of builds that finish together gets ``ThrottlingException`` even
after botocore's own (standard mode) retries. :meth:`SsmParameterStore.put`
then keeps retrying with full-jitter backoff (a pause drawn from 0 to 0.5 s,
the bound doubling up to 8 s) while the invocation has time left: it re-raises
as soon as less than :data:`SAFETY_MARGIN` seconds would remain after the
pause, so the function still confirms and logs before its timeout. The time
left comes from the runtime's :class:`amistate.core.deadline.Deadline`, which the
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
from typing import TYPE_CHECKING, Any, cast

from attrs import evolve
from botocore.exceptions import ClientError

from amistate.core.ami_parameter import AMI_DATA_TYPE
from amistate.core.deadline import Deadline
from amistate.core.merge import load_object
from amistate.errors import AwsRequestRejected, InvalidConfig
from amistate.ports import STANDARD_TIER_LIMIT, Parameter, ParameterType, Written
from amistate_adapters.errors import error_code, permanent_errors
from amistate_adapters.write_pace import WritePace

if TYPE_CHECKING:
    from mypy_boto3_ssm.client import SSMClient
    from mypy_boto3_ssm.literals import ParameterTierType
    from mypy_boto3_ssm.type_defs import ParameterHistoryTypeDef, PutParameterRequestTypeDef

#: Values above this many bytes need the Advanced tier (standard holds 4 KB).
STANDARD_LIMIT = STANDARD_TIER_LIMIT
NOT_FOUND = "ParameterNotFound"
#: GetParameters takes at most 10 names; DescribeParameters' Name filter 50 values.
GET_BATCH = 10
DESCRIBE_BATCH = 50
#: GetParameterHistory's largest page (SSM keeps a parameter's last 100 versions).
HISTORY_PAGE = 50
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
        value, version = found.get("Value", ""), found.get("Version")
        kind = found.get("Type", "String")
        data_type = found.get("DataType", "text")
        if kind == "SecureString":
            return evolve(self._secure(name, value, version), data_type=data_type)
        if kind != "String":
            raise InvalidConfig(f"SSM parameter {name} is a {kind}, not a String")
        return Parameter(
            name=name, value=value, type="String", version=version, data_type=data_type
        )

    def _secure(self, name: str, value: str, version: int | None) -> Parameter:
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
            tier=meta.get("Tier"),
            version=version,
        )

    def get_many(self, names: Collection[str]) -> Mapping[str, Parameter | None]:
        """``GetParameters`` ten names a call; None for each of ``InvalidParameters``.

        A String's tier is unknown (None), as in :meth:`get`; the
        SecureStrings among them cost ``DescribeParameters`` calls (50 names
        each, only when there are any) for their KeyId and tier. A
        ``StringList`` is returned as a String with its value (``get`` refuses
        it): one such parameter must not hide the others, and its value is
        refused by the JSON check of whoever uses it; its version is None, so
        no caller rewrites it on the strength of this read.
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
                # A StringList's version is withheld: that read is no basis for a rewrite.
                version = raw.get("Version") if raw.get("Type") != "StringList" else None
                found[name] = Parameter(
                    name=name,
                    value=value,
                    version=version,
                    data_type=raw.get("DataType", "text"),
                )
        for name, meta in self._describe(secure).items():
            plain = found[name]
            assert plain is not None
            found[name] = Parameter(
                name=name,
                value=plain.value,
                type="SecureString",
                key_id=meta.get("KeyId"),
                tier=meta.get("Tier"),
                version=plain.version,
                data_type=plain.data_type,
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

    def put(self, name: str, value: str, like: Parameter | None) -> Written:
        """Overwrite ``name``; refuse (InvalidConfig, nothing written) a non-object value."""
        load_object(value, f"value for SSM parameter {name}")
        kind: ParameterType = like.type if like else "String"
        size = len(value.encode())
        if size > 2 * STANDARD_LIMIT:
            raise InvalidConfig(f"SSM parameter {name}: {size} bytes exceeds the 8 KB limit")
        tier = "Advanced" if size > STANDARD_LIMIT else (like.tier if like else None)
        request: PutParameterRequestTypeDef = {
            "Name": name,
            "Value": value,
            "Type": kind,
            "Overwrite": True,
        }
        if kind == "SecureString" and like is not None and like.key_id:
            request["KeyId"] = like.key_id
        if tier is not None:
            request["Tier"] = cast("ParameterTierType", tier)
        try:
            return self._paced_put(request)
        except AwsRequestRejected:
            # Parameter Store refuses to turn an Advanced parameter Standard (what a
            # write naming no tier asks under the default-tier setting "Standard").
            if tier == "Advanced" or self._tier(name) != "Advanced":
                raise
        request["Tier"] = "Advanced"
        return self._paced_put(request)

    def put_ami(self, name: str, ami_id: str) -> Written:
        """A String of DataType ``aws:ec2:image`` holding ``ami_id`` (paced).

        Parameter Store answers before it has checked the AMI; a value it then
        refuses leaves the parameter unchanged, which the next converge or
        reconcile run reads and writes again.
        """
        return self._paced_put(
            {
                "Name": name,
                "Value": ami_id,
                "Type": "String",
                "DataType": AMI_DATA_TYPE,
                "Overwrite": True,
            }
        )

    def history(self, name: str) -> tuple[Parameter, ...]:
        """``GetParameterHistory`` (decrypted, every page, 50 versions a call)."""
        found: list[Parameter] = []
        token: str | None = None
        while True:
            extra = {"NextToken": token} if token else {}
            try:
                with permanent_errors(f"GetParameterHistory {name}"):
                    page = self.client.get_parameter_history(
                        Name=name,
                        WithDecryption=True,
                        MaxResults=HISTORY_PAGE,
                        **extra,
                    )
            except ClientError as exc:
                if error_code(exc) == NOT_FOUND:
                    return ()
                raise
            found += [_version(name, v) for v in page.get("Parameters", [])]
            token = page.get("NextToken")
            if not token:
                break
        return tuple(sorted(found, key=_number))

    def _tier(self, name: str) -> str | None:
        """The parameter's tier: its newest version's (None if it does not exist)."""
        newest = self.history(name)
        return newest[-1].tier if newest else None

    def _paced_put(self, request: PutParameterRequestTypeDef) -> Written:
        """``PutParameter``; when throttled, back off and retry while time allows."""
        bound = PACE_FIRST
        retries = 0
        while True:
            if self.pace is not None:
                self.pace.wait()
            try:
                with permanent_errors(f"PutParameter {request['Name']}"):
                    answer = self.client.put_parameter(**request)
                return Written(version=answer["Version"], tier=answer.get("Tier"))
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


def _version(name: str, raw: ParameterHistoryTypeDef) -> Parameter:
    """One version from GetParameterHistory (a StringList read as a String, as in get_many)."""
    kind: ParameterType = "SecureString" if raw.get("Type") == "SecureString" else "String"
    return Parameter(
        name=name,
        value=raw.get("Value", ""),
        type=kind,
        key_id=raw.get("KeyId") if kind == "SecureString" else None,
        tier=raw.get("Tier"),
        version=raw.get("Version"),
        data_type=raw.get("DataType", "text"),
    )


def _number(parameter: Parameter) -> int:
    return parameter.version or 0


__all__ = [
    "DESCRIBE_BATCH",
    "GET_BATCH",
    "HISTORY_PAGE",
    "PACE_FIRST",
    "PACE_MAX",
    "SAFETY_MARGIN",
    "STANDARD_LIMIT",
    "THROTTLED",
    "UNTIMED_RETRIES",
    "SsmParameterStore",
]
