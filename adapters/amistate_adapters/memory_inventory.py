"""In-memory :mod:`amistate.ports.inventory` ports with the AWS adapters' semantics.

* :class:`MemoryPipelineImages` is
  :class:`~amistate_adapters.pipeline_images.ImageBuilderPipelineImages` over a
  dict of pipelines: newest ``created`` first, only builds at or after ``since``,
  :class:`UnknownPipeline` for a pipeline never added.
* :class:`MemoryMachineImages` is :class:`~amistate_adapters.ec2.Ec2MachineImages`
  over a dict of AMIs: ``deregister`` removes an AMI (``missing``, as moto and,
  after a while, EC2 show it); ``set_state`` gives any EC2 state, ``deregistered``
  included. Tagging skips AMIs that no longer exist, as the adapter does.

Both record the AWS calls the adapters would make (``calls``), batched alike.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Collection, Iterator, Mapping
from datetime import datetime

from attrs import define, field

from amistate.core.amis import Amis
from amistate.ports.inventory import BuildSummary, ImageState
from amistate_adapters.ec2 import DESCRIBE_BATCH, TAG_BATCH, chunks, image_state
from amistate_adapters.errors import AwsRequestRejected
from amistate_adapters.pipeline_images import PAGE_SIZE, UnknownPipeline

#: moto's default account, so that memory and moto agree in tests.
DEFAULT_ACCOUNT = "123456789012"
_AMI_ID = re.compile(r"ami-[0-9a-f]{8}(?:[0-9a-f]{9})?")


class MemoryPipelineImages:
    """:class:`amistate.ports.inventory.PipelineImages` answering from dicts."""

    def __init__(self, page_size: int = PAGE_SIZE) -> None:
        self.lock = threading.Lock()
        self.pipelines: dict[str, list[BuildSummary]] = {}
        self.ended: dict[str, datetime] = {}
        self.page_size = page_size
        #: ``ListImagePipelineImages``/``ListWorkflowExecutions`` calls the adapter would make.
        self.calls: list[str] = []

    def add_pipeline(self, pipeline_arn: str) -> None:
        """Make the pipeline exist (with no builds yet)."""
        with self.lock:
            self.pipelines.setdefault(pipeline_arn, [])

    def add(
        self,
        pipeline_arn: str,
        build_arn: str,
        status: str,
        created: datetime,
        amis: Mapping[str, str] | Amis | None = None,
        reason: str | None = None,
        finished: datetime | None = None,
    ) -> BuildSummary:
        """Add (or replace) a build; ``amis`` by place, or our account's by region."""
        summary = BuildSummary(
            arn=build_arn,
            status=status,
            created=created,
            amis=amis if isinstance(amis, Amis) else Amis.of(amis or {}),
            reason=reason,
        )
        with self.lock:
            builds = self.pipelines.setdefault(pipeline_arn, [])
            builds[:] = [b for b in builds if b.arn != build_arn] + [summary]
            if finished is not None:
                self.ended[build_arn] = finished
        return summary

    def set_finished(self, build_arn: str, when: datetime | None) -> None:
        """Set (None: forget) the latest workflow ``endTime`` of a build."""
        with self.lock:
            if when is None:
                self.ended.pop(build_arn, None)
            else:
                self.ended[build_arn] = when

    def builds(self, pipeline_arn: str, since: datetime | None) -> Iterator[BuildSummary]:
        """As the adapter: newest first, created >= ``since``, pages stop once all older."""
        with self.lock:
            self.calls.append("ListImagePipelineImages")
            if pipeline_arn not in self.pipelines:
                raise UnknownPipeline(f"Image Builder has no image pipeline {pipeline_arn}")
            ordered = sorted(self.pipelines[pipeline_arn], key=lambda b: b.created, reverse=True)
        pages = list(chunks(ordered, self.page_size)) or [[]]
        for number, page in enumerate(pages):
            if number:
                with self.lock:
                    self.calls.append("ListImagePipelineImages")
            for summary in page:
                if since is None or summary.created >= since:
                    yield summary
            if since is not None and page and page[0].created < since:
                return

    def finished_at(self, build_arn: str) -> datetime | None:
        with self.lock:
            self.calls.append("ListWorkflowExecutions")
            return self.ended.get(build_arn)


@define
class MemoryImage:
    """One AMI as EC2 holds it."""

    state: str = "available"
    owner: str = DEFAULT_ACCOUNT
    tags: dict[str, str] = field(factory=dict)


class MemoryMachineImages:
    """:class:`amistate.ports.inventory.MachineImages` for one region and account."""

    def __init__(self, region: str = "us-west-2", account: str = DEFAULT_ACCOUNT) -> None:
        self.region = region
        self.account = account
        self.lock = threading.Lock()
        self.images: dict[str, MemoryImage] = {}
        self._numbers = itertools.count(1)
        #: ``DescribeImages``/``CreateTags``/``DeleteTags`` calls the adapter would make.
        self.calls: list[str] = []

    # ------------------------------------------------------------ the world

    def register(self, owner: str | None = None, state: str = "available") -> str:
        """A new AMI (of this account unless ``owner``); returns its ID."""
        with self.lock:
            ami = f"ami-{next(self._numbers):017x}"
            self.images[ami] = MemoryImage(state=state, owner=owner or self.account)
            return ami

    def deregister(self, ami_id: str) -> None:
        """The AMI vanishes (``missing``), tags and all."""
        with self.lock:
            del self.images[ami_id]

    def disable(self, ami_id: str) -> None:
        self.set_state(ami_id, "disabled")

    def set_state(self, ami_id: str, state: str) -> None:
        """Any EC2 ImageState (``deregistered``: still listed, as EC2 does for a while)."""
        with self.lock:
            self.images[ami_id].state = state

    # ------------------------------------------------------------ the port

    def states(self, ami_ids: Collection[str]) -> Mapping[str, ImageState]:
        wanted = list(dict.fromkeys(ami_ids))
        with self.lock:
            self.calls.extend("DescribeImages" for _ in chunks(wanted, DESCRIBE_BATCH))
            found = {ami: self.images.get(ami) for ami in wanted}
        return {
            ami: image_state(image.state) if image else "missing" for ami, image in found.items()
        }

    def tagged(self, keys: Collection[str]) -> Mapping[str, Mapping[str, str]]:
        wanted = set(keys)
        if not wanted:
            return {}
        with self.lock:
            self.calls.append("DescribeImages")
            found = {
                ami: {k: v for k, v in image.tags.items() if k in wanted}
                for ami, image in self.images.items()
                if image.owner == self.account
            }
        return {ami: tags for ami, tags in found.items() if tags}

    def tag(self, ami_ids: Collection[str], tags: Mapping[str, str]) -> None:
        for ami, image in self._existing("CreateTags", ami_ids):
            with self.lock:
                if ami in self.images:
                    image.tags.update(tags)

    def untag(self, ami_ids: Collection[str], keys: Collection[str]) -> None:
        for ami, image in self._existing("DeleteTags", ami_ids):
            with self.lock:
                if ami in self.images:
                    for key in keys:
                        image.tags.pop(key, None)

    def _existing(self, call: str, ami_ids: Collection[str]) -> list[tuple[str, MemoryImage]]:
        wanted = list(dict.fromkeys(ami_ids))
        bad = [ami for ami in wanted if not _AMI_ID.fullmatch(ami)]
        if bad:
            raise AwsRequestRejected(f"{call} in {self.region}: invalid resource IDs {bad}")
        with self.lock:
            self.calls.extend(call for _ in chunks(wanted, TAG_BATCH))
            return [
                (ami, image)
                for ami in wanted
                if (image := self.images.get(ami)) and image.state != "deregistered"
            ]


__all__ = [
    "DEFAULT_ACCOUNT",
    "MemoryImage",
    "MemoryMachineImages",
    "MemoryPipelineImages",
]
