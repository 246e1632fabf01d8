"""Image Builder: what a build produced (GetImage) and starting a pipeline."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from amistate.events import RegionalAmi
from amistate.ports import ImageFacts
from amistate_adapters.errors import UnknownBuild, error_code, permanent_errors

if TYPE_CHECKING:
    from mypy_boto3_imagebuilder.client import ImagebuilderClient

NOT_FOUND = "ResourceNotFoundException"
#: StartImagePipelineExecution's clientToken: 1 to 64 characters (API model).
CLIENT_TOKEN_MAX = 64


class ImageBuilderCatalog:
    """:class:`amistate.ports.ImageCatalog`: ``GetImage`` -> AMIs per region and pipeline."""

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
        amis = tuple(
            RegionalAmi(region=ami["region"], ami_id=ami["image"])
            for ami in image.get("outputResources", {}).get("amis", [])
            if "region" in ami and "image" in ami
        )
        return ImageFacts(
            amis=amis,
            pipeline_arn=image.get("sourcePipelineArn"),
            status=image.get("state", {}).get("status"),
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
