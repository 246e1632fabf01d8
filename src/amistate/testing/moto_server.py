"""moto's server for the test kit, the demo and the sandbox, with DynamoDB's atomicity.

Real DynamoDB applies each conditional write atomically per item; moto's
threaded server does not under concurrent requests (two racing
``UpdateItem`` calls can both pass their conditions). amistate's ordering
relies on the service's guarantee, so here DynamoDB requests are served one
at a time, as the service would apply them; every other service stays
concurrent. The concurrency tests run on dynalite, which is atomic itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def serialise_dynamodb(app: WsgiApp) -> WsgiApp:
    """``app`` with DynamoDB requests (``X-Amz-Target: DynamoDB_...``) one at a time."""
    lock = threading.Lock()

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return app(environ, start_response)
        with lock:
            return list(app(environ, start_response))

    return wrapped


class MotoServer(ThreadedMotoServer):
    """:class:`moto.server.ThreadedMotoServer` serving DynamoDB atomically."""

    def __init__(self) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)

    def _server_entry(self) -> None:
        app = serialise_dynamodb(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True)
        self._server_ready_event.set()
        self._server.serve_forever()


__all__ = ["MotoServer", "serialise_dynamodb"]
