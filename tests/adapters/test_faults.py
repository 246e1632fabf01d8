"""How AWS failures surface: retryable after botocore's retries, or permanent at once.

A tiny local HTTP server answers every request with one canned AWS JSON error,
and counts the requests, so the retries botocore makes are visible.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from amistate_adapters.clients import client_config
from amistate_adapters.dynamodb import DynamoStateStore
from amistate_adapters.errors import AwsRequestRejected
from amistate_adapters.ssm import SsmParameterStore
from botocore.exceptions import ClientError

ATTEMPTS = 2


class FaultServer(ThreadingHTTPServer):
    """Answers ``status`` + ``{"__type": code}`` to everything; counts requests."""

    status = 500
    code = "InternalServerError"
    requests = 0


class Handler(BaseHTTPRequestHandler):
    server: FaultServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.requests += 1
        body = json.dumps({"__type": f"com.amazonaws.test#{self.server.code}", "message": "x"})
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    server = FaultServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    thread.join()


def client(service: str, server: FaultServer) -> object:
    host, port = server.server_address[:2]
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        region_name="us-west-2",
        endpoint_url=f"http://{host!s}:{port}",
        config=client_config(max_attempts=ATTEMPTS),
    )


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "ThrottlingException"),
        (400, "ProvisionedThroughputExceededException"),
        (500, "InternalServerError"),
        (503, "ServiceUnavailable"),
    ],
)
def test_dynamodb_transient_errors_are_retried_then_propagate(
    aws_env: None, fault_server: FaultServer, status: int, code: str
) -> None:
    fault_server.status, fault_server.code = status, code
    store = DynamoStateStore("table", client("dynamodb", fault_server))  # type: ignore[arg-type]
    with pytest.raises(ClientError) as raised:
        store.get("linux")
    assert raised.value.response["Error"]["Code"] == code
    assert not isinstance(raised.value, AwsRequestRejected)
    assert fault_server.requests == ATTEMPTS


def test_dynamodb_validation_error_is_permanent_and_not_retried(
    aws_env: None, fault_server: FaultServer
) -> None:
    fault_server.status, fault_server.code = 400, "ValidationException"
    store = DynamoStateStore("table", client("dynamodb", fault_server))  # type: ignore[arg-type]
    with pytest.raises(AwsRequestRejected, match="ValidationException"):
        store.get("linux")
    assert fault_server.requests == 1


def test_ssm_throttling_is_retried_then_propagates(
    aws_env: None, fault_server: FaultServer
) -> None:
    fault_server.status, fault_server.code = 400, "ThrottlingException"
    store = SsmParameterStore(client("ssm", fault_server), "us-west-2")  # type: ignore[arg-type]
    with pytest.raises(ClientError) as raised:
        store.get("/spot-runner/configs/linux")
    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert fault_server.requests == ATTEMPTS
