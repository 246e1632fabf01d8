"""Clients: one per service and region per process, configured for Lambda."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from amistate_adapters import clients
from amistate_adapters.dynamodb import DynamoPresetCatalog, DynamoStateStore
from amistate_adapters.imagebuilder import ImageBuilderCatalog, ImageBuilderPipelines
from amistate_adapters.ssm import SsmParameterStore
from amistate_adapters.wiring import aws_ports

from amistate.core.settings import Settings


@pytest.fixture(autouse=True)
def fresh_cache(aws_env: None) -> Iterator[None]:
    clients.clear()
    yield
    clients.clear()


def test_clients_are_created_once_and_reused() -> None:
    first = clients.client("dynamodb", "us-west-2")
    assert clients.client("dynamodb", "us-west-2") is first
    assert clients.client("dynamodb", "eu-west-1") is not first
    assert clients.client("ssm", "us-west-2").meta.service_model.service_name == "ssm"


def test_client_configuration() -> None:
    config: Any = clients.client("ssm", "us-west-2").meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": clients.MAX_ATTEMPTS}
    assert (config.connect_timeout, config.read_timeout) == (
        clients.CONNECT_TIMEOUT,
        clients.READ_TIMEOUT,
    )


def test_region_and_endpoints_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:2")
    assert clients.client("dynamodb").meta.region_name == "eu-central-1"
    assert clients.client("dynamodb").meta.endpoint_url == "http://127.0.0.1:2"
    assert clients.client("ssm").meta.endpoint_url == "http://127.0.0.1:1"


def test_wiring_shares_clients_and_covers_every_region() -> None:
    settings = Settings(home_region="us-west-2", extra_regions=("eu-west-1",), table="table")
    ports = aws_ports(settings)
    states, catalog = ports.states, ports.catalog
    images, starter = ports.images, ports.starter
    assert isinstance(states, DynamoStateStore) and isinstance(catalog, DynamoPresetCatalog)
    assert isinstance(images, ImageBuilderCatalog) and isinstance(starter, ImageBuilderPipelines)
    assert states.client is catalog.client
    assert images.client is starter.client
    assert sorted(ports.parameters) == ["eu-west-1", "us-west-2"]
    eu = ports.parameters["eu-west-1"]
    assert isinstance(eu, SsmParameterStore)
    assert eu.client.meta.region_name == "eu-west-1"
    assert eu.region == "eu-west-1"
    assert len(ports.clients) == 4  # dynamodb, imagebuilder, ssm x 2
    again = aws_ports(Settings(home_region="us-west-2", table="table")).states
    assert isinstance(again, DynamoStateStore) and again.client is states.client


def test_importing_the_adapters_does_not_import_boto3() -> None:
    import subprocess
    import sys

    code = (
        "import sys, amistate_adapters.clients, amistate_adapters.wiring;"
        "sys.exit('boto3' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True)
    assert result.returncode == 0, result.stderr
