"""Image Builder: what a build produced (GetImage) and starting a pipeline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from amistate.core.amis import amis_of
from amistate.core.arns import owner_of
from amistate.ports import ImageFacts
from amistate_adapters.errors import UnknownBuild, error_code, permanent_errors

if TYPE_CHECKING:
    from mypy_boto3_imagebuilder.client import ImagebuilderClient

NOT_FOUND = "ResourceNotFoundException"
#: StartImagePipelineExecution's clientToken: 1 to 64 characters (API model).
CLIENT_TOKEN_MAX = 64


def parse_date(value: object) -> datetime:
    """An Image Builder ``DateTime`` (ISO 8601 text, e.g. ``2024-01-18T17:21:03.113Z``)
    as an aware UTC datetime. Image Builder's times are UTC: a time without a
    zone is read as UTC. Raises ValueError or TypeError."""
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _created(value: object) -> datetime | None:
    """``image.dateCreated`` as aware UTC; None when absent or unreadable."""
    try:
        return parse_date(value)
    except (TypeError, ValueError):
        return None


class ImageBuilderCatalog:
    """:class:`amistate.ports.ImageCatalog`: ``GetImage`` -> AMIs per region, pipeline, start.

    The AMIs are every account's, by place (:func:`amistate.core.amis.amis_of`, our
    account taken from the build ARN): a preset trusts only its target accounts'.
    """

    def __init__(self, client: ImagebuilderClient) -> None:
        self.client = client

    def describe(self, build_arn: str) -> ImageFacts:
        try:
            with permanent_errors(f"GetImage {build_arn}"):
                image = self.client.get_image(imageBuildVersionArn=build_arn).get("image", {})
        except ClientError as exc:
            if error_code(exc) == NOT_FOUND:
                raise UnknownBuild(f"Image Builder has no image {build_arn}") from exc
            raise
        owner = owner_of(build_arn)
        entries: list[Any] = list(image.get("outputResources", {}).get("amis", []))
        return ImageFacts(
            amis=amis_of(entries, owner[2] if owner else ""),
            pipeline_arn=image.get("sourcePipelineArn"),
            status=image.get("state", {}).get("status"),
            created=_created(image.get("dateCreated")),
        )


class ImageBuilderPipelines:
    """:class:`amistate.ports.PipelineStarter`: starts a build and returns at once.

    Image Builder deduplicates on ``clientToken``: a retried deploy passing the
    same token gets the same build instead of a second one.
    """

    def __init__(self, client: ImagebuilderClient) -> None:
        self.client = client

    def start(self, pipeline_arn: str, client_token: str) -> str:
        if not 1 <= len(client_token) <= CLIENT_TOKEN_MAX:
            raise ValueError(f"clientToken must be 1-{CLIENT_TOKEN_MAX} characters")
        with permanent_errors(f"StartImagePipelineExecution {pipeline_arn}"):
            response = self.client.start_image_pipeline_execution(
                imagePipelineArn=pipeline_arn, clientToken=client_token
            )
        return response["imageBuildVersionArn"]


__all__ = ["CLIENT_TOKEN_MAX", "ImageBuilderCatalog", "ImageBuilderPipelines"]
