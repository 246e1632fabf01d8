"""Local HTTP servers for the shim tests, and a Lambda context.

* Image Builder: the shared stand-in, :class:`amistate.testing.ImageBuilderStandIn`
  (``strict=True``), reached via ``AWS_ENDPOINT_URL_IMAGEBUILDER``.
* :class:`ResponseServer`: a CloudFormation ResponseURL that records every
  PUT and answers from a script (200, 500, or hang until released).
* :class:`FlakyProxy`: forwards to moto, or answers 503 while ``down`` is set
  (an outage), or AccessDenied for the operations on the names in ``denied``,
  for ``AWS_ENDPOINT_URL_SSM``.

Every server runs in a daemon thread on a free loopback port; tests wait on
their queues and events, never on sleeps.
"""

from __future__ import annotations

import json
import queue
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from attrs import define

from amistate.testing import LambdaContext

SAMPLES = Path(__file__).resolve().parents[1] / "samples"

ACCOUNT = "111122223333"
REGION = "us-west-2"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:amistate-state"


def sample(name: str) -> Any:
    """A sample event from tests/samples, as a fresh dict."""
    return json.loads((SAMPLES / name).read_text())


#: A Lambda context object with what the shims read (the kit's).
Context = LambdaContext


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: Any


class _Base(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status: int, payload: bytes, headers: Mapping[str, str] = {}) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Running:
    """Start/stop of one server in a daemon thread."""

    handler: ClassVar[type[_Base]]

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), self.handler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- ResponseURL ------------------------------------------------------------------------


@define
class Received:
    """One PUT the ResponseURL received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes


class _ResponseHandler(_Base):
    def do_PUT(self) -> None:
        server: ResponseServer = self.server.owner
        raw = self._body()
        with server.lock:
            action = server.script.pop(0) if server.script else server.default
        server.attempts.put(self.path)
        if action == "hang":
            server.release.wait(timeout=60)
            return
        if action == 200:
            server.received.put(
                Received(self.path, dict(self.headers.items()), json.loads(raw), raw)
            )
        self._answer(int(action), b"")


class ResponseServer(_Running):
    """Records what CloudFormation would receive. ``script`` answers the first
    PUTs in order (an HTTP status, or ``"hang"``), then ``default``."""

    handler = _ResponseHandler

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.script: list[int | str] = []
        self.default: int | str = 200
        self.received: queue.Queue[Received] = queue.Queue()
        self.attempts: queue.Queue[str] = queue.Queue()
        self.release = threading.Event()
        super().__init__()

    def response_url(self) -> str:
        return f"{self.url}/cloudformation-response/{uuid.uuid4()}?X-Amz-Signature=secret"

    def all_received(self) -> list[Received]:
        items: list[Received] = []
        while not self.received.empty():
            items.append(self.received.get_nowait())
        return items

    def attempt_count(self) -> int:
        return self.attempts.qsize()

    def close(self) -> None:
        self.release.set()
        super().close()


# --- an outage --------------------------------------------------------------------------


class _ProxyHandler(_Base):
    def do_POST(self) -> None:
        proxy: FlakyProxy = self.server.owner
        payload = self._body()
        operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
        try:
            name = json.loads(payload or b"{}").get("Name")
        except (ValueError, AttributeError):
            name = None
        with proxy.lock:
            proxy.requests += 1
            down = proxy.down.is_set()
            denied = (operation, name) in proxy.denied
            if down or denied:
                proxy.refused += 1
        json_type = {"Content-Type": "application/x-amz-json-1.1"}
        if denied:
            message = f"not authorized to perform: ssm:{operation} on {name}"
            error = json.dumps({"__type": "AccessDeniedException", "message": message})
            self._answer(400, error.encode(), json_type)
            return
        if down:
            outage = json.dumps({"__type": "InternalServerError", "message": "outage"})
            self._answer(503, outage.encode(), json_type)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        request = urllib.request.Request(  # noqa: S310 (loopback)
            proxy.target + self.path, data=payload, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
                status, body, reply = answer.status, answer.read(), answer.headers
        except urllib.error.HTTPError as exc:
            status, body, reply = exc.code, exc.read(), exc.headers
        keep = {
            k: v
            for k, v in reply.items()
            if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length"
        }
        self._answer(status, body, keep)


_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "host"})


class FlakyProxy(_Running):
    """Forwards JSON-protocol requests (SSM, DynamoDB) to ``target``; while
    ``down`` is set, answers 503 InternalServerError instead. A request whose
    ``(operation, Name)`` is in ``denied`` (e.g. ``("PutParameter", "/x")``) gets
    400 AccessDeniedException, as IAM would answer it."""

    handler = _ProxyHandler

    def __init__(self, target: str) -> None:
        self.target = target
        self.lock = threading.Lock()
        self.down = threading.Event()
        self.denied: set[tuple[str, str]] = set()
        self.requests = 0
        self.refused = 0
        super().__init__()


@contextmanager
def running(server: Any) -> Iterator[Any]:
    try:
        yield server
    finally:
        server.close()
