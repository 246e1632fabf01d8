"""EC2: the state of AMIs in one region and the in-use tags (``MachineImages``).

Calls:

* ``states``: ``DescribeImages`` with ``Filters=[{"Name": "image-id", ...}]``, at
  most :data:`DESCRIBE_BATCH` IDs a call, ``IncludeDeprecated`` and
  ``IncludeDisabled``. No ``Owners``: an AMI shared from another account is
  as launchable as one of ours. A filter (not ``ImageIds``) so that an unknown
  or malformed ID is simply absent (``missing``) instead of failing the batch
  with ``InvalidAMIID.NotFound``/``Malformed``.
* ``tagged``: ``DescribeImages`` ``Owners=["self"]``, paginated, with one
  ``tag-key`` filter value: the key, or for several keys their common prefix
  and ``*`` (EC2 ORs several values, but moto's server matches an image only
  if its keys are a subset or a superset of them: one wildcard is answered
  alike by both); the tags are then narrowed to the keys asked for.
* ``tag``/``untag``: ``CreateTags``/``DeleteTags`` with every tag at once, at
  most :data:`TAG_BATCH` resources a call. An AMI that no longer exists cannot
  carry a tag: when a batch fails because one of its AMIs is gone, the batch is
  retried once with the AMIs ``states`` still finds, so one vanished AMI never
  blocks the others.

Errors: EC2's validation codes become :class:`AwsRequestRejected` (permanent);
throttling, 5xx and network errors propagate after botocore's retries.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from botocore.exceptions import ClientError

from amistate.ports.inventory import ImageState
from amistate_adapters.errors import AwsRequestRejected, error_code, permanent_errors

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_ec2.type_defs import FilterTypeDef, ImageTypeDef, TagTypeDef

#: Values per ``DescribeImages`` filter: EC2 accepts up to 200.
DESCRIBE_BATCH = 200
#: Resources per ``CreateTags``/``DeleteTags`` call (EC2's limit: 1000).
TAG_BATCH = 1000

#: EC2's ImageState -> the port's. ``transient`` is a passing state (like
#: ``pending``); ``invalid``, ``error`` and anything unknown count as ``failed``.
STATES: Mapping[str, ImageState] = {
    "available": "available",
    "pending": "pending",
    "transient": "pending",
    "disabled": "disabled",
    "deregistered": "deregistered",
    "failed": "failed",
    "invalid": "failed",
    "error": "failed",
}

#: EC2 error codes that mean "this request is wrong" (beyond the shared ones).
EC2_PERMANENT_CODES = frozenset(
    {
        "InvalidAMIID.Malformed",
        "InvalidAMIID.NotFound",
        "InvalidAMIID.Unavailable",
        "InvalidID",
        "InvalidParameter",
        "InvalidParameterCombination",
        "InvalidFilter",
        "MissingParameter",
        "UnknownParameter",
        "InvalidTagKey.Malformed",
        "TagLimitExceeded",
    }
)
#: Codes by which CreateTags/DeleteTags say one of the AMIs is gone.
GONE_CODES = frozenset({"InvalidAMIID.NotFound", "InvalidAMIID.Unavailable"})

T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def image_state(ec2_state: str | None) -> ImageState:
    """The port's state for EC2's ``State`` (unknown values: ``failed``)."""
    return STATES.get(ec2_state or "", "failed")


@contextmanager
def ec2_permanent_errors(what: str) -> Iterator[None]:
    """:func:`permanent_errors`, plus EC2's own validation codes."""
    with permanent_errors(what):
        try:
            yield
        except ClientError as exc:
            if error_code(exc) in EC2_PERMANENT_CODES:
                raise AwsRequestRejected(f"{what}: {exc}") from exc
            raise


def _unique(ids: Collection[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def _pattern(keys: Sequence[str]) -> str:
    """One ``tag-key`` filter value matching every key: the key, or the keys'
    common prefix followed by ``*``."""
    if len(keys) == 1:
        return keys[0]
    prefix = keys[0]
    for key in keys[1:]:
        while not key.startswith(prefix):
            prefix = prefix[:-1]
    return prefix + "*"


class Ec2MachineImages:
    """:class:`amistate.ports.inventory.MachineImages` on EC2 in ``region``."""

    def __init__(self, client: EC2Client, region: str) -> None:
        self.client = client
        self.region = region

    def _describe(self, what: str, **kwargs: object) -> Iterator[ImageTypeDef]:
        paginator = self.client.get_paginator("describe_images")
        with ec2_permanent_errors(what):
            pages = list(paginator.paginate(**kwargs))  # type: ignore[arg-type]
        for page in pages:
            yield from page.get("Images", [])

    def states(self, ami_ids: Collection[str]) -> Mapping[str, ImageState]:
        wanted = _unique(ami_ids)
        found: dict[str, ImageState] = {}
        for batch in chunks(wanted, DESCRIBE_BATCH):
            filters: list[FilterTypeDef] = [{"Name": "image-id", "Values": list(batch)}]
            images = self._describe(
                f"DescribeImages ({len(batch)} ids) in {self.region}",
                Filters=filters,
                IncludeDeprecated=True,
                IncludeDisabled=True,
            )
            asked = set(batch)
            for image in images:
                ami = image.get("ImageId")
                if ami in asked:
                    found[ami] = image_state(image.get("State"))
        return {ami: found.get(ami, "missing") for ami in wanted}

    def tagged(self, keys: Collection[str]) -> Mapping[str, Mapping[str, str]]:
        wanted = _unique(keys)
        if not wanted:
            return {}
        value = _pattern(wanted)
        filters: list[FilterTypeDef] = [{"Name": "tag-key", "Values": [value]}]
        result: dict[str, dict[str, str]] = {}
        images = self._describe(
            f"DescribeImages tag-key={value} in {self.region}",
            Owners=["self"],
            Filters=filters,
            IncludeDeprecated=True,
            IncludeDisabled=True,
        )
        for image in images:
            ami = image.get("ImageId")
            tags = image.get("Tags", [])
            found = {t["Key"]: t.get("Value", "") for t in tags if t.get("Key") in wanted}
            if ami and found:
                result.setdefault(ami, {}).update(found)
        return result

    def tag(self, ami_ids: Collection[str], tags: Mapping[str, str]) -> None:
        pairs: list[TagTypeDef] = [{"Key": key, "Value": value} for key, value in tags.items()]
        shown = " ".join(f"{key}={value}" for key, value in tags.items())

        def create(batch: list[str]) -> None:
            self.client.create_tags(Resources=batch, Tags=pairs)

        self._each_existing(f"CreateTags {shown} in {self.region}", ami_ids, create)

    def untag(self, ami_ids: Collection[str], keys: Collection[str]) -> None:
        # Tags without a value: EC2 deletes each key whatever its value.
        names: list[TagTypeDef] = [{"Key": key} for key in _unique(keys)]

        def delete(batch: list[str]) -> None:
            self.client.delete_tags(Resources=batch, Tags=names)

        self._each_existing(f"DeleteTags {','.join(keys)} in {self.region}", ami_ids, delete)

    def _each_existing(
        self, what: str, ami_ids: Collection[str], call: Callable[[list[str]], None]
    ) -> None:
        """``call`` per batch; a batch naming a vanished AMI is retried without it."""
        for batch in chunks(_unique(ami_ids), TAG_BATCH):
            try:
                with ec2_permanent_errors(what):
                    call(list(batch))
                continue
            except AwsRequestRejected as exc:
                cause = exc.__cause__
                if not (isinstance(cause, ClientError) and error_code(cause) in GONE_CODES):
                    raise
            states = self.states(batch)
            alive = [ami for ami in batch if states[ami] not in ("missing", "deregistered")]
            if alive:
                with ec2_permanent_errors(what):
                    call(alive)


__all__ = [
    "DESCRIBE_BATCH",
    "EC2_PERMANENT_CODES",
    "STATES",
    "TAG_BATCH",
    "Ec2MachineImages",
    "chunks",
    "ec2_permanent_errors",
    "image_state",
]
