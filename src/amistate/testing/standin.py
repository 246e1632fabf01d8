"""An in-process stand-in for EC2 Image Builder, shared by the demo, the tests and the sandbox.

Public: :mod:`amistate.testing` exports it for users' own tests.

It speaks the operations amistate calls, in Image Builder's REST-JSON protocol
(``tests/adapters/test_standin_model.py`` checks the shapes against botocore's
``imagebuilder`` model):

* ``GET /GetImage?imageBuildVersionArn=<arn>`` -> ``{"requestId", "image"}``
  (``dateCreated`` as ISO text, ``outputResources.amis[].accountId``);
* ``PUT /StartImagePipelineExecution`` with ``{"imagePipelineArn", "clientToken"}``
  -> ``{"requestId", "clientToken", "imageBuildVersionArn"}``, idempotent per token;
* ``POST /ListImagePipelineImages`` with ``{"imagePipelineArn", "maxResults",
  "nextToken"}`` -> ``{"requestId", "imageSummaryList", "nextToken"}``, newest
  ``dateCreated`` first, paginated;
* ``POST /ListWorkflowExecutions`` with ``{"imageBuildVersionArn", ...}`` ->
  ``{"requestId", "imageBuildVersionArn", "workflowExecutions"}`` (``startTime``,
  ``endTime``), paginated.

boto3 reaches it through ``AWS_ENDPOINT_URL_IMAGEBUILDER``. It runs in a daemon
thread on a free loopback port and needs nothing but the standard library.
Start it with ``with ImageBuilderStandIn() as ib:`` (or ``close()`` it);
``strict=True`` answers ResourceNotFound for a pipeline not in ``pipelines``,
as Image Builder does. ``calls`` records every request, ``started`` every new
execution as ``(pipeline, token)``.

A build starts (``new_build``, ``StartImagePipelineExecution``) at ``clock()``
or a given time, and ends with :meth:`ImageBuilderStandIn.finish`, which also
puts the EventBridge "Image State Change" event Image Builder would send in
``outbox``; ``finish(..., deliver=False)`` completes the build and sends
nothing (a lost event). Whoever plays the role of EventBridge takes the events
with :meth:`ImageBuilderStandIn.take_events` and hands them to the Lambda.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from amistate.testing.shapes import (
    TERMINAL,
    copy_json,
    image_object,
    iso,
    state_change_event,
    summary_of,
    workflows_of,
)

#: ``maxResults`` when the caller gives none.
DEFAULT_PAGE = 25


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: ImageBuilderStandIn


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm
        # and the client's delayed ACK cost ~40 ms per call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the demo prints its own timeline."""

    def _send(self, status: int, value: object, error: str | None = None) -> None:
        payload = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if error is not None:
            self.send_header("x-amzn-ErrorType", error)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _not_found(self, message: str) -> None:
        self._send(404, {"message": message}, "ResourceNotFoundException")

    def _invalid(self, message: str, error: str = "InvalidRequestException") -> None:
        self._send(400, {"message": message}, error)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/GetImage":
            self._not_found(f"no route {url.path}")
            return
        arn = parse_qs(url.query).get("imageBuildVersionArn", [""])[0]
        image = self.server.standin.get_image(arn)
        if image is None:
            self._not_found(f"Image {arn} not found")
            return
        self._send(200, {"requestId": str(uuid.uuid4()), "image": image})

    def _body(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._invalid("body is not a JSON object")
            return None
        return body

    def do_PUT(self) -> None:
        url = urlsplit(self.path)
        body = self._body()
        if body is None:
            return
        if url.path != "/StartImagePipelineExecution":
            self._not_found(f"no route {url.path}")
            return
        pipeline, token = body.get("imagePipelineArn"), body.get("clientToken")
        if not isinstance(pipeline, str) or not isinstance(token, str):
            self._invalid("imagePipelineArn and clientToken are required")
            return
        arn = self.server.standin.execute(pipeline, token)
        if arn is None:
            self._not_found(f"no pipeline {pipeline}")
            return
        answer = {"requestId": str(uuid.uuid4()), "clientToken": token, "imageBuildVersionArn": arn}
        self._send(200, answer)

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        body = self._body()
        if body is None:
            return
        routes = {
            "/ListImagePipelineImages": ("imagePipelineArn", "imageSummaryList"),
            "/ListWorkflowExecutions": ("imageBuildVersionArn", "workflowExecutions"),
        }
        if url.path not in routes:
            self._not_found(f"no route {url.path}")
            return
        name, listed = routes[url.path]
        arn, size, token = (
            body.get(name),
            body.get("maxResults", DEFAULT_PAGE),
            body.get("nextToken"),
        )
        if not isinstance(arn, str) or not isinstance(size, int) or not 1 <= size <= 100:
            self._invalid(f"{name} is required; maxResults is 1-100")
            return
        standin = self.server.standin
        if url.path == "/ListImagePipelineImages":
            items = standin.list_pipeline_images(arn)
        else:
            items = standin.list_workflows(arn)
        if items is None:
            self._not_found(f"{name} {arn} not found")
            return
        start = _offset(token, len(items))
        if start is None:
            self._invalid(f"nextToken {token!r} is not valid", "InvalidPaginationTokenException")
            return
        answer: dict[str, Any] = {
            "requestId": str(uuid.uuid4()),
            listed: items[start : start + size],
        }
        if url.path == "/ListWorkflowExecutions":
            answer[name] = arn
        if start + size < len(items):
            answer["nextToken"] = f"page-{start + size}"
        self._send(200, answer)


def _offset(token: object, total: int) -> int | None:
    """The first index a ``nextToken`` stands for (0 without one); None if invalid."""
    if token is None:
        return 0
    if not isinstance(token, str) or not token.startswith("page-"):
        return None
    number = token[len("page-") :]
    return int(number) if number.isdigit() and int(number) <= total else None


def _now() -> datetime:
    return datetime.now(UTC)


class ImageBuilderStandIn:
    """Builds by ARN; each pipeline mints build versions ``1.0.0/1``, ``1.0.0/2``, ..."""

    def __init__(
        self,
        strict: bool = False,
        clock: Callable[[], datetime] = _now,
        on_start: Callable[[str], None] | None = None,
    ) -> None:
        self.strict = strict
        self.clock = clock
        #: Called with the build ARN after StartImagePipelineExecution started a new
        #: build, before the API answers (the sandbox finishes the build there).
        self.on_start = on_start
        self.lock = threading.Lock()
        self.images: dict[str, dict[str, Any]] = {}
        self.pipelines: set[str] = set()
        self.tokens: dict[str, str] = {}
        self.started: list[tuple[str, str]] = []
        self.calls: list[tuple[str, str]] = []
        #: EventBridge events Image Builder sent and nobody took yet (see take_events).
        self.outbox: list[dict[str, Any]] = []
        self._ended: dict[str, datetime] = {}
        self._counts: dict[str, int] = {}
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.standin = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="imagebuilder-standin",
            daemon=True,
        )
        self._thread.start()

    def __enter__(self) -> ImageBuilderStandIn:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def reset(self) -> None:
        """Forget every image, pipeline, execution, event and call."""
        with self.lock:
            for held in (self.images, self.tokens, self._counts, self._ended):
                held.clear()
            self.pipelines.clear()
            self.started.clear()
            self.calls.clear()
            self.outbox.clear()

    # --- what the API answers ---------------------------------------------------------

    def get_image(self, build_arn: str) -> dict[str, Any] | None:
        """GetImage: a copy of the Image object, or None."""
        with self.lock:
            self.calls.append(("GetImage", build_arn))
            image = self.images.get(build_arn)
            return None if image is None else copy_json(image)

    def execute(self, pipeline_arn: str, token: str) -> str | None:
        """StartImagePipelineExecution: one build per client token (None: unknown pipeline)."""
        started = None
        with self.lock:
            self.calls.append(("StartImagePipelineExecution", pipeline_arn))
            if self.strict and pipeline_arn not in self.pipelines:
                return None
            if token not in self.tokens:
                self.started.append((pipeline_arn, token))
                started = self._next(pipeline_arn, self.clock(), "USER_INITIATED")
                self.tokens[token] = started
            arn = self.tokens[token]
        if started is not None and self.on_start is not None:
            self.on_start(started)
        return arn

    def list_pipeline_images(self, pipeline_arn: str) -> list[dict[str, Any]] | None:
        """ListImagePipelineImages: the summaries, newest dateCreated first (None: unknown)."""
        with self.lock:
            self.calls.append(("ListImagePipelineImages", pipeline_arn))
            mine = [i for i in self.images.values() if i["sourcePipelineArn"] == pipeline_arn]
            if self.strict and pipeline_arn not in self.pipelines:
                return None
            mine.sort(key=lambda i: (i["dateCreated"], i["arn"]), reverse=True)
            return [summary_of(image) for image in mine]

    def list_workflows(self, build_arn: str) -> list[dict[str, Any]] | None:
        """ListWorkflowExecutions: a build workflow, and a test one once it ended."""
        with self.lock:
            self.calls.append(("ListWorkflowExecutions", build_arn))
            image = self.images.get(build_arn)
            if image is None:
                return None
            return workflows_of(image, self._ended.get(build_arn))

    # --- what a test or the demo makes happen -------------------------------------------

    def new_build(self, pipeline_arn: str, created: datetime | None = None) -> str:
        """Mint the pipeline's next build version ARN (an execution started on schedule),
        started at ``created`` (default: ``clock()``)."""
        with self.lock:
            return self._next(pipeline_arn, created or self.clock(), "SCHEDULED")

    def finish(
        self,
        build_arn: str,
        status: str,
        amis: Mapping[str, str] | None = None,
        *,
        reason: str | None = None,
        finished: datetime | None = None,
        deliver: bool = True,
        copies: Mapping[str, Mapping[str, str]] | None = None,
    ) -> dict[str, Any]:
        """Record the build's outcome (its AMIs per region) at ``finished`` (default:
        ``clock()``) and, unless ``deliver=False`` (a lost event), put its EventBridge
        event in ``outbox``. ``copies`` (account -> region -> AMI) are the image's copies
        a distribution made in other accounts, listed after the build's own AMIs with
        their ``accountId``. Returns the Image object."""
        with self.lock:
            old = self.images[build_arn]
            image = image_object(
                build_arn, old["sourcePipelineArn"], status, amis or {}, old["dateCreated"]
            )
            image["buildType"] = old["buildType"]
            _add_copies(image, copies)
            if reason is not None:
                image["state"]["reason"] = reason
            self.images[build_arn] = image
            ended = finished or self.clock()
            self._ended[build_arn] = ended
            if deliver and status in TERMINAL:
                self.outbox.append(state_change_event(image, ended))
            return copy_json(image)

    def take_events(self) -> list[dict[str, Any]]:
        """The events sent since the last call (what EventBridge would deliver), oldest first."""
        with self.lock:
            taken, self.outbox[:] = list(self.outbox), []
            return taken

    def add_image(
        self,
        build_arn: str,
        pipeline_arn: str,
        amis: Mapping[str, str],
        status: str = "AVAILABLE",
        created: datetime | None = None,
        copies: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        """Serve a GetImage answer for this build, its pipeline and AMIs (``copies``:
        as :meth:`finish` takes them)."""
        with self.lock:
            when = iso(created or self.clock())
            image = image_object(build_arn, pipeline_arn, status, amis, when)
            self.images[build_arn] = _add_copies(image, copies)

    def _next(self, pipeline_arn: str, created: datetime, build_type: str) -> str:
        prefix, _, name = pipeline_arn.partition(":image-pipeline/")
        while True:
            n = self._counts.get(pipeline_arn, 0) + 1
            self._counts[pipeline_arn] = n
            arn = f"{prefix}:image/{name}/1.0.0/{n}"
            if arn not in self.images:
                break
        self.images[arn] = image_object(arn, pipeline_arn, "BUILDING", {}, iso(created))
        self.images[arn]["buildType"] = build_type
        return arn


def _add_copies(
    image: dict[str, Any], copies: Mapping[str, Mapping[str, str]] | None
) -> dict[str, Any]:
    """``image`` with the copies other accounts hold listed after its own AMIs."""
    for account, regional in (copies or {}).items():
        shared = image_object(image["arn"], "", "AVAILABLE", regional, "")["outputResources"]
        for entry in shared["amis"]:
            image["outputResources"]["amis"].append({**entry, "accountId": account})
    return image


__all__ = ["ImageBuilderStandIn", "iso", "state_change_event"]
