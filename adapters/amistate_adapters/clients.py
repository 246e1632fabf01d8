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

import os
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
#: One botocore session for every client: each new Session loads the endpoint
#: rules, partitions and the list of services again (about 30 ms per Session
#: on a cold start) and keeps its own copies alive until the process exits.
_session: Any = None


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

    Thread-safe: clients are created under a lock, all from one private
    ``boto3.session.Session`` (boto3's default session is not thread-safe).
    """
    global _session
    key = (service, region)
    with _lock:
        found = _clients.get(key)
        if found is None:
            import boto3.session

            if _session is None:
                _session = boto3.session.Session()
            found = _session.client(service, region_name=region, config=client_config())
            _clients[key] = found
        return found


class ClientFactory:
    """Clients from an injected boto3 session and/or a fixed endpoint, one per (service, region).

    ``endpoint_url`` acts as ``AWS_ENDPOINT_URL`` would: a service's own
    ``AWS_ENDPOINT_URL_<SERVICE>`` still wins. Without a session, clients come
    from the process's shared one (:func:`client`).
    """

    def __init__(self, session: Any = None, endpoint_url: str | None = None) -> None:
        self._session = session
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()
        self._made: dict[tuple[str, str | None], Any] = {}

    @property
    def endpoint_url(self) -> str | None:
        """The endpoint every client of this factory talks to (None: AWS's)."""
        return self._endpoint_url

    def __call__(self, service: str, region: str | None = None) -> Any:
        endpoint = self._endpoint_url
        if endpoint is not None and os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}"):
            endpoint = None
        if self._session is None and endpoint is None:
            return client(service, region)  # type: ignore[call-overload]
        with self._lock:
            found = self._made.get((service, region))
            if found is None:
                session = self._session or _shared_session()
                found = session.client(
                    service, region_name=region, endpoint_url=endpoint, config=client_config()
                )
                self._made[(service, region)] = found
            return found


def _shared_session() -> Any:
    global _session
    with _lock:
        if _session is None:
            import boto3.session

            _session = boto3.session.Session()
        return _session


def clear() -> None:
    """Forget every cached client and the session (tests that change the environment)."""
    global _session
    with _lock:
        _clients.clear()
        _session = None


__all__ = [
    "CONNECT_TIMEOUT",
    "MAX_ATTEMPTS",
    "READ_TIMEOUT",
    "ClientFactory",
    "clear",
    "client",
    "client_config",
]
