"""Image Builder: a pipeline's builds and when a build ended (``inventory.PipelineImages``).

Calls:

* ``builds``: ``ListImagePipelineImages(imagePipelineArn, maxResults, nextToken)``,
  one page at a time, only as far as the caller iterates.
* ``finished_at``: ``ListWorkflowExecutions(imageBuildVersionArn, nextToken)``,
  every page.

Errors: ``ResourceNotFoundException`` for the pipeline becomes
:class:`UnknownPipeline` (permanent); ``ValidationException`` and
``InvalidRequestException`` become :class:`AwsRequestRejected` (permanent);
throttling, 5xx and network errors propagate after botocore's retries.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from amistate.core.amis import amis_of
from amistate.core.arns import parse_build_arn
from amistate.errors import AmistateError
from amistate.ports.inventory import BuildSummary
from amistate_adapters.errors import error_code, permanent_errors
from amistate_adapters.imagebuilder import parse_date

if TYPE_CHECKING:
    from mypy_boto3_imagebuilder.client import ImagebuilderClient

NOT_FOUND = "ResourceNotFoundException"
#: ``maxResults`` of ``ListImagePipelineImages`` (the API allows 1 to 100).
PAGE_SIZE = 25


class UnknownPipeline(AmistateError, LookupError):
    """Image Builder has no such image pipeline (ResourceNotFoundException)."""


def build_summary(entry: object) -> BuildSummary | None:
    """One ``imageSummaryList`` entry, or None when a field it needs is missing or invalid.

    Needs ``arn`` (an image build version ARN), ``state.status`` and ``dateCreated``.
    The AMIs are every account's, by place (:func:`amis_of`).
    """
    if not isinstance(entry, Mapping):
        return None
    arn, state = entry.get("arn"), entry.get("state")
    if not isinstance(arn, str) or not isinstance(state, Mapping):
        return None
    status, reason = state.get("status"), state.get("reason")
    if not isinstance(status, str) or not status:
        return None
    try:
        account = parse_build_arn(arn).account
        created = parse_date(entry.get("dateCreated"))
    except (TypeError, ValueError):
        return None
    outputs = entry.get("outputResources")
    amis = outputs.get("amis") if isinstance(outputs, Mapping) else None
    return BuildSummary(
        arn=arn,
        status=status,
        created=created,
        amis=amis_of(amis if isinstance(amis, list) else (), account),
        reason=reason if isinstance(reason, str) else None,
    )


class ImageBuilderPipelineImages:
    """:class:`amistate.ports.inventory.PipelineImages` on Image Builder."""

    def __init__(self, client: ImagebuilderClient, page_size: int = PAGE_SIZE) -> None:
        if not 1 <= page_size <= 100:
            raise ValueError("page_size must be 1-100 (ListImagePipelineImages maxResults)")
        self.client = client
        self.page_size = page_size
        #: Entries skipped so far because a field was missing or invalid.
        self.skipped = 0

    def _page(self, pipeline_arn: str, token: str | None) -> dict[str, Any]:
        what = f"ListImagePipelineImages {pipeline_arn}"
        try:
            with permanent_errors(what):
                if token:
                    response = self.client.list_image_pipeline_images(
                        imagePipelineArn=pipeline_arn, maxResults=self.page_size, nextToken=token
                    )
                else:
                    response = self.client.list_image_pipeline_images(
                        imagePipelineArn=pipeline_arn, maxResults=self.page_size
                    )
        except ClientError as exc:
            if error_code(exc) == NOT_FOUND:
                raise UnknownPipeline(
                    f"Image Builder has no image pipeline {pipeline_arn}"
                ) from exc
            raise
        return dict(response)

    def builds(self, pipeline_arn: str, since: datetime | None) -> Iterator[BuildSummary]:
        """The pipeline's builds created at or after ``since`` (None: all), lazily.

        Image Builder does not promise an order, so each page is sorted by
        ``dateCreated``, newest first (the order across pages is the API's).
        Only builds created at or after ``since`` are yielded, and no further
        page is requested once a whole page is older than ``since``: a run that
        finds nothing new costs one call when the first page is all old.
        Entries with a missing or invalid ``arn``, ``state.status`` or
        ``dateCreated`` are skipped (counted in :attr:`skipped`).

        Raises :class:`UnknownPipeline` (at the first ``next``) when the pipeline
        does not exist.
        """
        token: str | None = None
        while True:
            page = self._page(pipeline_arn, token)
            entries = page.get("imageSummaryList") or []
            summaries = [summary for summary in map(build_summary, entries) if summary]
            self.skipped += len(entries) - len(summaries)
            summaries.sort(key=lambda summary: summary.created, reverse=True)
            for summary in summaries:
                if since is None or summary.created >= since:
                    yield summary
            token = page.get("nextToken") or None
            if token is None:
                return
            if since is not None and summaries and summaries[0].created < since:
                return

    def finished_at(self, build_arn: str) -> datetime | None:
        """The latest ``endTime`` among the build's workflows (build, test,
        distribution); workflows without one are ignored. None when no workflow
        has ended, or Image Builder does not know the build."""
        latest: datetime | None = None
        token: str | None = None
        what = f"ListWorkflowExecutions {build_arn}"
        while True:
            try:
                with permanent_errors(what):
                    if token:
                        response = self.client.list_workflow_executions(
                            imageBuildVersionArn=build_arn, nextToken=token
                        )
                    else:
                        response = self.client.list_workflow_executions(
                            imageBuildVersionArn=build_arn
                        )
            except ClientError as exc:
                if error_code(exc) == NOT_FOUND:
                    return None
                raise
            for workflow in response.get("workflowExecutions", []):
                try:
                    ended = parse_date(workflow.get("endTime"))
                except (TypeError, ValueError):
                    continue
                if latest is None or ended > latest:
                    latest = ended
            token = response.get("nextToken") or None
            if token is None:
                return latest


__all__ = [
    "PAGE_SIZE",
    "ImageBuilderPipelineImages",
    "UnknownPipeline",
    "build_summary",
    "parse_date",
]
