"""An in-process stand-in for EC2 Image Builder, shared by the demo and the tests.

It speaks the operations amistate calls, in Image Builder's REST-JSON protocol
(``tests/adapters/test_standin_model.py`` checks the shapes against botocore's
``imagebuilder`` model):

* ``GET /GetImage?imageBuildVersionArn=<arn>`` -> ``{"requestId", "image"}``;
* ``PUT /StartImagePipelineExecution`` with ``{"imagePipelineArn", "clientToken"}``
  -> ``{"requestId", "clientToken", "imageBuildVersionArn"}``, idempotent per token.

boto3 reaches it through ``AWS_ENDPOINT_URL_IMAGEBUILDER``. It runs in a daemon
thread on a free loopback port and needs nothing but the standard library.
Start it with ``with ImageBuilderStandIn() as ib:`` (or ``close()`` it);
``strict=True`` answers ResourceNotFound for a pipeline not in ``pipelines``,
as Image Builder does. ``calls`` records every request, ``started`` every new
execution as ``(pipeline, token)``.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


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

    def do_PUT(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._send(400, {"message": "body is not JSON"}, "InvalidRequestException")
            return
        if url.path != "/StartImagePipelineExecution" or not isinstance(body, dict):
            self._not_found(f"no route {url.path}")
            return
        pipeline, token = body.get("imagePipelineArn"), body.get("clientToken")
        if not isinstance(pipeline, str) or not isinstance(token, str):
            self._send(400, {"message": "imagePipelineArn and clientToken are required"})
            return
        arn = self.server.standin.execute(pipeline, token)
        if arn is None:
            self._not_found(f"no pipeline {pipeline}")
            return
        answer = {"requestId": str(uuid.uuid4()), "clientToken": token, "imageBuildVersionArn": arn}
        self._send(200, answer)


class ImageBuilderStandIn:
    """Builds by ARN; each pipeline mints build versions ``1.0.0/1``, ``1.0.0/2``, ..."""

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self.lock = threading.Lock()
        self.images: dict[str, dict[str, Any]] = {}
        self.pipelines: set[str] = set()
        self.tokens: dict[str, str] = {}
        self.started: list[tuple[str, str]] = []
        self.calls: list[tuple[str, str]] = []
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
        """Forget every image, pipeline, execution and call."""
        with self.lock:
            for held in (self.images, self.tokens, self._counts):
                held.clear()
            self.pipelines.clear()
            self.started.clear()
            self.calls.clear()

    # --- what the API answers ---------------------------------------------------------

    def get_image(self, build_arn: str) -> dict[str, Any] | None:
        """GetImage: a copy of the Image object, or None."""
        with self.lock:
            self.calls.append(("GetImage", build_arn))
            image = self.images.get(build_arn)
            return None if image is None else _copy(image)

    def execute(self, pipeline_arn: str, token: str) -> str | None:
        """StartImagePipelineExecution: one build per client token (None: unknown pipeline)."""
        with self.lock:
            self.calls.append(("StartImagePipelineExecution", pipeline_arn))
            if self.strict and pipeline_arn not in self.pipelines:
                return None
            if token not in self.tokens:
                self.started.append((pipeline_arn, token))
                self.tokens[token] = self._next(pipeline_arn)
            return self.tokens[token]

    # --- what a test or the demo makes happen -------------------------------------------

    def new_build(self, pipeline_arn: str) -> str:
        """Mint the pipeline's next build version ARN (an execution started on schedule)."""
        with self.lock:
            return self._next(pipeline_arn)

    def finish(
        self, build_arn: str, status: str, amis: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Record the build's outcome (its AMIs per region); return the Image object."""
        with self.lock:
            pipeline = self.images[build_arn]["sourcePipelineArn"]
            image = _image(build_arn, pipeline, status, amis or {})
            self.images[build_arn] = image
            return _copy(image)

    def add_image(
        self, build_arn: str, pipeline_arn: str, amis: Mapping[str, str], status: str = "AVAILABLE"
    ) -> None:
        """Serve a GetImage answer for this build, its pipeline and AMIs."""
        with self.lock:
            self.images[build_arn] = _image(build_arn, pipeline_arn, status, amis)

    def _next(self, pipeline_arn: str) -> str:
        prefix, _, name = pipeline_arn.partition(":image-pipeline/")
        while True:
            n = self._counts.get(pipeline_arn, 0) + 1
            self._counts[pipeline_arn] = n
            arn = f"{prefix}:image/{name}/1.0.0/{n}"
            if arn not in self.images:
                break
        self.images[arn] = _image(arn, pipeline_arn, "BUILDING", {})
        return arn


def _copy(image: dict[str, Any]) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(image))
    return copied


def _image(
    build_arn: str, pipeline_arn: str, status: str, amis: Mapping[str, str]
) -> dict[str, Any]:
    """An Image object shaped like GetImage's (and the SNS notification's)."""
    _, _, rest = build_arn.partition(":image/")
    name, version, build = rest.split("/")
    account = build_arn.split(":")[4]
    return {
        "arn": build_arn,
        "type": "AMI",
        "name": name,
        "version": f"{version}/{build}",
        "platform": "Linux",
        "state": {"status": status},
        "sourcePipelineName": pipeline_arn.rpartition("/")[2],
        "sourcePipelineArn": pipeline_arn,
        "buildType": "SCHEDULED",
        "outputResources": {
            "amis": [
                {
                    "region": region,
                    "image": ami,
                    "name": f"{name} {version}/{build}",
                    "accountId": account,
                    "state": {"status": "AVAILABLE"},
                }
                for region, ami in amis.items()
            ]
        },
    }


__all__ = ["ImageBuilderStandIn"]
