"""Image Builder: what a build produced (GetImage) and starting a pipeline."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from amistate.core.amis import amis_of
from amistate.core.arns import owner_of
from amistate.ports import ImageFacts
from amistate_adapters.errors import UnknownBuild, error_code, permanent_errors
from amistate_adapters.pipeline_images import parse_date

if TYPE_CHECKING:
    from mypy_boto3_imagebuilder.client import ImagebuilderClient

NOT_FOUND = "ResourceNotFoundException"
#: StartImagePipelineExecution's clientToken: 1 to 64 characters (API model).
CLIENT_TOKEN_MAX = 64


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
