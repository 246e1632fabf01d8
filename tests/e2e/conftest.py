"""The end-to-end test reuses the shim tests' Lambda-like world over moto's server."""

from tests.shims.conftest import aws, imagebuilder_fake

__all__ = ["aws", "imagebuilder_fake"]
