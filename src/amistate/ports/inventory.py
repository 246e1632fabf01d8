"""What Image Builder and EC2 hold: the world the reconciler reads.

Events are the fast path; these ports are how a reconcile run sees the truth
directly. A build's AMIs are an :class:`~amistate.core.amis.Amis` (GetImage, SNS,
SQS and the pipeline listing all read them with :func:`~amistate.core.amis.amis_of`).
The in-use tags' keys and values are :mod:`amistate.core.in_use`'s.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from datetime import datetime
from typing import Any, Literal, Protocol

from attrs import frozen

from amistate.core.amis import NO_AMIS, Amis

ImageState = Literal["available", "pending", "disabled", "deregistered", "failed", "missing"]
#: States in which a runner can still launch the AMI.
LAUNCHABLE: frozenset[str] = frozenset({"available"})


@frozen
class BuildSummary:
    """One image of a pipeline as ``ListImagePipelineImages`` shows it.

    ``created`` is ``dateCreated``: when the build *started* (the ordering
    input every path shares).
    """

    arn: str
    status: str
    created: datetime
    amis: Amis = NO_AMIS
    reason: str | None = None


class PipelineImages(Protocol):
    """Image Builder's list of a pipeline's builds."""

    def builds(self, pipeline_arn: str, since: datetime | None) -> Iterator[BuildSummary]:
        """The pipeline's builds, newest ``created`` first, paginated lazily.

        Stops after the first build created before ``since`` (None: all of them).
        """
        ...

    def finished_at(self, build_arn: str) -> datetime | None:
        """When the build ended: the latest workflow ``endTime`` (None if unknown)."""
        ...


class MachineImages(Protocol):
    """EC2's AMIs in one region: existence, state, and the in-use tags."""

    region: str

    def states(self, ami_ids: Collection[str]) -> Mapping[str, ImageState]:
        """The state of each AMI asked for; ``missing`` for one EC2 does not know."""
        ...

    def tagged(self, keys: Collection[str]) -> Mapping[str, Mapping[str, str]]:
        """Every AMI of this account carrying any of ``keys``, with its tags of
        those keys (key -> value; other tags are left out). One listing."""
        ...

    def tag(self, ami_ids: Collection[str], tags: Mapping[str, str]) -> None:
        """Set every ``key=value`` of ``tags`` on each AMI, together (idempotent)."""
        ...

    def untag(self, ami_ids: Collection[str], keys: Collection[str]) -> None:
        """Remove the tags ``keys`` from each AMI, whatever their values (idempotent)."""
        ...


@frozen
class Inventory:
    """The reconciler's read-side ports: built only when a reconcile run needs them,
    so the event Lambda never creates an EC2 client."""

    pipelines: PipelineImages
    machines: Mapping[str, MachineImages]  # by region
    clients: tuple[Any, ...] = ()


__all__ = [
    "LAUNCHABLE",
    "BuildSummary",
    "ImageState",
    "Inventory",
    "MachineImages",
    "PipelineImages",
]
