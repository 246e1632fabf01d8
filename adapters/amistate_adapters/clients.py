"""boto3 clients, created once per process and shared.

Creating a client costs tens of milliseconds (endpoint and model loading), so a
Lambda container creates each one at most once and reuses it for every
invocation. Region and endpoint come only from the standard AWS environment
(``AWS_REGION``/``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_<SERVICE>``), which boto3 honours itself; credentials are
boto3's business too. boto3 is imported inside :func:`client`, so importing
this module is free.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Literal, overload

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_imagebuilder.client import ImagebuilderClient
    from mypy_boto3_ssm.client import SSMClient

#: Total attempts per call, the first one included (botocore's ``total_max_attempts``;
#: its ``max_attempts`` would count retries only). In the "standard" retry mode,
#: throttling, 5xx and connection errors are retried with jittered backoff.
MAX_ATTEMPTS = 4
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 10.0

_lock = threading.Lock()
_clients: dict[tuple[str, str | None], Any] = {}


def client_config(max_attempts: int = MAX_ATTEMPTS) -> Config:
    """The botocore configuration every amistate client uses."""
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        tcp_keepalive=True,
    )


@overload
def client(service: Literal["dynamodb"], region: str | None = None) -> DynamoDBClient: ...
@overload
def client(service: Literal["ssm"], region: str | None = None) -> SSMClient: ...
@overload
def client(service: Literal["imagebuilder"], region: str | None = None) -> ImagebuilderClient: ...
def client(service: str, region: str | None = None) -> Any:
    """The process's client for ``service`` in ``region`` (None: the environment's region).

    Thread-safe: clients are created under a lock, from a private
    ``boto3.session.Session`` (boto3's default session is not thread-safe).
    """
    key = (service, region)
    with _lock:
        found = _clients.get(key)
        if found is None:
            import boto3.session

            session = boto3.session.Session()
            found = session.client(service, region_name=region, config=client_config())  # type: ignore[call-overload]
            _clients[key] = found
        return found


def clear() -> None:
    """Forget every cached client (tests that change the environment)."""
    with _lock:
        _clients.clear()


__all__ = ["CONNECT_TIMEOUT", "MAX_ATTEMPTS", "READ_TIMEOUT", "clear", "client", "client_config"]
