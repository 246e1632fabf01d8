"""The loopback AWS the benchmarks talk to, in its own process.

``python -m bench.server`` serves on one port:

* DynamoDB, SSM, STS and EC2: moto's server application (``moto[server]``); a
  client acting in another account assumes a role there through STS, and moto
  keeps that account's parameters and images apart;
* Image Builder ``GET /GetImage?imageBuildVersionArn=``: a fake whose answer
  is a pure function of the build ARN (see :func:`image_for`), so any number
  of builds need no set-up: the pipeline is ``image-pipeline/<recipe>`` and
  every distribution region gets :func:`ami_of_build`; a build is AVAILABLE
  unless ``/__bench__/outcomes`` said otherwise last (amistate checks an
  event's status against GetImage, so a failed build must be failed here too);
* ``/__bench__/calls``: ``GET`` the AWS requests received since the last
  ``DELETE``, as ``[["dynamodb:GetItem", <server seconds>, <account>], ...]``: the
  account is the one whose credentials signed the request (the home account's
  unless they came from an ``AssumeRole`` answer, whose role names the account);
* ``/__bench__/copies``: ``POST {"<recipe>": ["<account>", ...]}``: from now on
  GetImage lists, for every build of those recipes, a copy of each distributed
  AMI in each of those accounts (``accountId``; :func:`ami_of_build` of the account);
* ``/__bench__/outcomes``: ``POST {"<build ARN>": "FAILED", ...}``: those builds'
  terminal status from now on (not counted as AWS calls).

Counting happens here, at the HTTP level, in another process than the code
under test: a retried request counts twice, as it costs twice.
It prints ``READY <port>`` once listening. :class:`BenchServer` runs it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

from bench.common import ROOT, build_outcomes

ACCOUNT = "111122223333"
#: Regions every fake build is distributed to.
DISTRIBUTION = ("us-west-2", "eu-west-1")

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
App = Callable[[Environ, StartResponse], Iterable[bytes]]


def ami_of_build(build_arn: str, region: str, account: str = ACCOUNT) -> str:
    """The AMI a build has in ``region`` (in ``account``: its copy there)."""
    key = f"{build_arn}|{region}" + ("" if account == ACCOUNT else f"|{account}")
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"ami-{digest[:17]}"


def image_for(
    build_arn: str, status: str = "AVAILABLE", copies: Sequence[str] = ()
) -> dict[str, Any]:
    """The ``image`` of a GetImage answer for any build ARN (no AMI unless AVAILABLE),
    with a copy of each AMI in each account of ``copies``."""
    prefix, _, rest = build_arn.partition(":image/")
    recipe, version, build = rest.split("/")
    pipeline = f"{prefix}:image-pipeline/{recipe}"
    distribution = DISTRIBUTION if status == "AVAILABLE" else ()
    return {
        "arn": build_arn,
        "name": recipe,
        "type": "AMI",
        "version": version,
        "platform": "Linux",
        "osVersion": "Amazon Linux 2023",
        "state": {"status": status},
        "buildType": "SCHEDULED",
        "sourcePipelineArn": pipeline,
        "sourcePipelineName": recipe,
        "dateCreated": "2024-01-18T17:21:03.113Z",
        "outputResources": {
            "amis": [
                {
                    "region": region,
                    "image": ami_of_build(build_arn, region, account),
                    "name": f"{recipe} {build}",
                    "description": "spot runner image",
                    "state": {"status": "AVAILABLE"},
                    "accountId": account,
                }
                for account in (ACCOUNT, *copies)
                for region in distribution
            ]
        },
    }


#: SigV4's credential scope: the access key and the service.
_SCOPE = re.compile(r"Credential=([^/]+)/[^/]+/[^/]+/([^/]+)/")
_ASSUMED_KEY = re.compile(rb"<AccessKeyId>([^<]+)</AccessKeyId>")
_ROLE_ACCOUNT = re.compile(r"^arn:[^:]+:iam::(\d{12}):role/")


class Counting:
    """WSGI middleware: records each AWS request (with the account that made it),
    routes GetImage to the fake."""

    def __init__(self, moto: App) -> None:
        self.moto = moto
        self.lock = threading.Lock()
        self.calls: list[tuple[str, float, str]] = []
        self.outcomes: dict[str, str] = {}  # build ARN -> terminal status (default AVAILABLE)
        self.copies: dict[str, list[str]] = {}  # recipe -> accounts its builds are copied to
        self.keys: dict[str, str] = {}  # access key from an AssumeRole answer -> its account

    def __call__(self, environ: Environ, start: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/__bench__/calls":
            return self._calls(environ, start)
        if path in ("/__bench__/outcomes", "/__bench__/copies"):
            return self._configure(environ, start, path.rpartition("/")[2])
        began = time.perf_counter()
        if path == "/GetImage":
            answer = self._get_image(environ, start)
            self._record("imagebuilder:GetImage", began, ACCOUNT)
            return answer
        key, service = self._scope(environ)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        prefix, _, operation = target.partition(".")
        name = {"DynamoDB_20120810": "dynamodb", "AmazonSSM": "ssm"}.get(prefix, prefix)
        form: dict[str, list[str]] = {}
        if not operation and service in ("sts", "ec2"):  # the query protocol: a form body
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            form = parse_qs(body.decode(errors="replace"))
            name, operation = service, form.get("Action", [""])[0]
        answer = list(self.moto(environ, start))  # moto answers in full: time all of it
        call = f"{name}:{operation}" if operation else f"{environ['REQUEST_METHOD']} {path}"
        with self.lock:
            account = self.keys.get(key, ACCOUNT)
        if call == "sts:AssumeRole":
            self._assumed(form, b"".join(answer))
        self._record(call, began, account)
        return answer

    @staticmethod
    def _scope(environ: Environ) -> tuple[str, str]:
        found = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        return (found.group(1), found.group(2)) if found else ("", "")

    def _assumed(self, form: Mapping[str, list[str]], answer: bytes) -> None:
        """Remember whose credentials an AssumeRole answer handed out."""
        role = _ROLE_ACCOUNT.match(form.get("RoleArn", [""])[0])
        key = _ASSUMED_KEY.search(answer)
        if role and key:
            with self.lock:
                self.keys[key.group(1).decode()] = role.group(1)

    def _record(self, call: str, began: float, account: str) -> None:
        spent = time.perf_counter() - began
        with self.lock:
            self.calls.append((call, spent, account))

    def _calls(self, environ: Environ, start: StartResponse) -> Iterable[bytes]:
        with self.lock:
            body = json.dumps(self.calls).encode()
            if environ["REQUEST_METHOD"] == "DELETE":
                self.calls = []
        start("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def _configure(self, environ: Environ, start: StartResponse, what: str) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        values = json.loads(environ["wsgi.input"].read(length) or b"{}")
        with self.lock:
            (self.outcomes if what == "outcomes" else self.copies).update(values)
        start("204 No Content", [("Content-Length", "0")])
        return [b""]

    def _get_image(self, environ: Environ, start: StartResponse) -> Iterable[bytes]:
        arn = parse_qs(environ.get("QUERY_STRING", "")).get("imageBuildVersionArn", [""])[0]
        headers = [("Content-Type", "application/json")]
        recipe = arn.partition(":image/")[2].split("/")[0]
        with self.lock:
            outcome = self.outcomes.get(arn, "AVAILABLE")
            copies = list(self.copies.get(recipe, ()))
        try:
            image = image_for(arn, outcome, copies)
            status, value = "200 OK", {"requestId": str(uuid.uuid4()), "image": image}
        except ValueError:
            status, value = "404 Not Found", {"message": f"no image {arn[:200]}"}
            headers.append(("x-amzn-ErrorType", "ResourceNotFoundException"))
        body = json.dumps(value).encode()
        start(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]


def serve(port: int) -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = Counting(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    print(f"READY {server.server_port}", flush=True)
    server.serve_forever()


class BenchServer:
    """Runs ``python -m bench.server`` on a free loopback port for a ``with`` block."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> BenchServer:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.server", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"bench server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def __enter__(self) -> BenchServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def calls(self, clear: bool = True) -> list[str]:
        """The AWS requests received since the last clear."""
        return [call for call, _, _ in self._received(clear)]

    def timed_calls(self, clear: bool = True) -> list[tuple[str, float]]:
        """The AWS requests received since the last clear, with the server's time for each."""
        return [(call, seconds) for call, seconds, _ in self._received(clear)]

    def account_calls(self, clear: bool = True) -> list[tuple[str, str]]:
        """The AWS requests received since the last clear, with the account of each."""
        return [(call, account) for call, _, account in self._received(clear)]

    def _received(self, clear: bool) -> list[tuple[str, float, str]]:
        url = f"{self.url}/__bench__/calls"  # always http://127.0.0.1
        request = urllib.request.Request(url, method="DELETE" if clear else "GET")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            value: list[list[Any]] = json.loads(answer.read())
        return [(str(call), float(seconds), str(account)) for call, seconds, account in value]

    def outcomes(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Make GetImage tell each event's build with the status the event says (a
        failed build is FAILED in Image Builder too)."""
        self._post("outcomes", build_outcomes(events))

    def copies(self, recipes: Mapping[str, Sequence[str]]) -> None:
        """Make GetImage list a copy in each of these accounts for every build of a recipe."""
        self._post("copies", {recipe: list(accounts) for recipe, accounts in recipes.items()})

    def _post(self, what: str, value: object) -> None:
        url = f"{self.url}/__bench__/{what}"  # always http://127.0.0.1
        body = json.dumps(value).encode()
        request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass

    def env(self, services: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment variables that point boto3 at this server (and dummy credentials)."""
        endpoints = {name: self.url for name in ("DYNAMODB", "SSM", "IMAGEBUILDER", "STS", "EC2")}
        endpoints.update(services or {})
        return {
            **{f"AWS_ENDPOINT_URL_{name}": url for name, url in endpoints.items()},
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_REGION": "us-west-2",
            "AWS_DEFAULT_REGION": "us-west-2",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    serve(parser.parse_args().port)


if __name__ == "__main__":
    main()
