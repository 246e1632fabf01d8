"""Clients: one per service and region per process, configured for Lambda."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from amistate_adapters import clients
from amistate_adapters.wiring import aws_ports


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
    ports = aws_ports("table", "us-west-2", ("eu-west-1", "us-west-2"))
    assert ports.states.client is ports.catalog.client
    assert ports.images.client is ports.starter.client
    assert sorted(ports.parameters) == ["eu-west-1", "us-west-2"]
    assert ports.parameters["eu-west-1"].client.meta.region_name == "eu-west-1"
    assert ports.parameters["eu-west-1"].region == "eu-west-1"
    assert len(ports.clients()) == 4  # dynamodb, imagebuilder, ssm x 2
    assert aws_ports("table", "us-west-2").states.client is ports.states.client


def test_importing_the_adapters_does_not_import_boto3() -> None:
    import subprocess
    import sys

    code = (
        "import sys, amistate_adapters.clients, amistate_adapters.wiring;"
        "sys.exit('boto3' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True)
    assert result.returncode == 0, result.stderr
