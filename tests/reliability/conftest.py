"""Fixtures of the reliability suite: the AWS-backed world (moto's server + Image Builder fake)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from amistate.shims import custom_resource, runtime
from amistate.shims.response import PutPolicy
from tests.reliability.aws_world import AwsWorld
from tests.reliability.faults import Injector, instant_retries
from tests.servers import Endpoint
from tests.shims.fakes import ImageBuilderFake, ResponseServer, running


@pytest.fixture(scope="module")
def aws_world(moto_server: Endpoint) -> Iterator[tuple[AwsWorld, ResponseServer]]:
    """One set of hooked clients per module; call ``world.fresh()`` for each case."""
    with (
        instant_retries(),
        running(ImageBuilderFake()) as images,
        running(ResponseServer()) as responses,
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setattr(custom_resource, "POLICY", PutPolicy(timeout=2.0, attempts=2, backoff=0))
        try:
            yield AwsWorld(moto_server, images, Injector()), responses
        finally:
            runtime.reset()
