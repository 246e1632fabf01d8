"""The CDK tests share one synthesis of the example app (see ``synth.py``)."""

from __future__ import annotations

import pytest

from tests.cdk.synth import Synthesized, synthesize


@pytest.fixture(scope="session")
def synthesized() -> Synthesized:
    return synthesize()
