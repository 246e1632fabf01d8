"""The end-to-end tests reuse the shim tests' Lambda-like world over moto's server."""

from tests.shims.conftest import aws, imagebuilder_fake, ssm_proxy

__all__ = ["aws", "imagebuilder_fake", "ssm_proxy"]
