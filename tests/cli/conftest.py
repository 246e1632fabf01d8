"""The CLI as a user runs it: a subprocess with real arguments, against moto's server.

``cli`` gives each test a fresh table on the shared moto server
(tests/servers.py ``moto_table``), an Image Builder stand-in (the demo's own,
from the package) for GetImage and StartImagePipelineExecution, and
:meth:`Cli.run`, which runs ``python -m amistate.cli.main`` with the
environment a user would have set (``AMISTATE_TABLE``, ``AWS_REGION``,
``AWS_ENDPOINT_URL``), or without it when a test passes the flags instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from amistate.testing import (
    ImageBuilderStandIn,
    LambdaContext,
    image_notification,
    run_build,
    sns_envelope,
    sns_event,
)
from tests.servers import REGION, Table

ACCOUNT = "111122223333"
PREFIX = "/spot-runner/configs"
CONFIG: dict[str, Any] = {
    "instanceTypes": ["c7g.large", "c6g.large"],
    "timeout": 3600,
    "spot": True,
    "labels": ["arm64", "linux"],
    "maxPrice": 0.085,
}


def pipeline(preset: str) -> str:
    return f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image-pipeline/spot-runner-{preset}"


def build(preset: str, n: int) -> str:
    return f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/spot-runner-{preset}/1.0.0/{n}"


class Cli:
    """One test's world and a way to run ``amistate`` in it."""

    def __init__(self, table: Table, images: ImageBuilderStandIn, tmp: Path) -> None:
        self.table = table.name
        self.endpoint = table.endpoint.url
        self.images = images
        self.tmp = tmp
        self.ddb = table.client
        self.ssm = table.endpoint.client("ssm")
        self.table_endpoint = table.endpoint
        self.env = {
            **os.environ,
            "AMISTATE_TABLE": self.table,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ENDPOINT_URL_IMAGEBUILDER": images.url,
            "NO_PROXY": "127.0.0.1,localhost",
        }
        self.env.pop("AMISTATE_PARAMETER_PREFIX", None)
        self.env.pop("AMISTATE_EXTRA_REGIONS", None)

    def run(
        self,
        *args: str,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
        bare: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """``amistate ARGS``; ``bare`` drops the amistate/AWS variables but the credentials."""
        environment = dict(self.env if env is None else env)
        if bare:
            for name in ("AMISTATE_TABLE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
                environment.pop(name, None)
        return subprocess.run(
            [sys.executable, "-m", "amistate.cli.main", *args],
            input=stdin,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def json(self, *args: str, code: int = 0, stdin: str | None = None) -> Any:
        """Run with ``--json``, check the exit code, parse stdout."""
        done = self.run(*args, "--json", stdin=stdin)
        assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
        return json.loads(done.stdout)

    def write(self, name: str, value: Any, lines: bool = False) -> str:
        path = self.tmp / name
        if lines:
            path.write_text("".join(json.dumps(item) + "\n" for item in value))
        else:
            path.write_text(json.dumps(value, indent=2))
        return str(path)

    def init(self, preset: str, config: Mapping[str, Any] = CONFIG) -> None:
        path = self.write(f"{preset}.json", config)
        self.json(
            "init", preset, "--pipeline-arn", pipeline(preset), "--config", path, "--no-build"
        )

    def image(
        self,
        preset: str,
        n: int,
        status: str = "AVAILABLE",
        ami: str | None = None,
        created: str | None = None,
    ) -> dict[str, Any]:
        """Build ``n`` of ``preset`` made by Image Builder (the stand-in holds it, so
        GetImage confirms it), and its notification (:func:`image`)."""
        body = image(preset, n, status, ami, created)
        started_at = datetime.fromisoformat(body["dateCreated"].replace("Z", "+00:00"))
        amis = {REGION: ami} if ami else {}
        self.images.add_image(body["arn"], pipeline(preset), amis, status, started_at)
        return body

    def parameter(self, preset: str) -> dict[str, Any]:
        value = self.ssm.get_parameter(Name=f"{PREFIX}/{preset}")["Parameter"]["Value"]
        loaded: dict[str, Any] = json.loads(value)
        return loaded

    def put_parameter(self, preset: str, value: Mapping[str, Any]) -> None:
        self.ssm.put_parameter(
            Name=f"{PREFIX}/{preset}", Value=json.dumps(value), Type="String", Overwrite=True
        )


@pytest.fixture(scope="session")
def standin() -> Iterator[ImageBuilderStandIn]:
    with ImageBuilderStandIn() as images:
        yield images


@pytest.fixture
def cli(moto_table: Table, standin: ImageBuilderStandIn, tmp_path: Path) -> Cli:
    return Cli(moto_table, standin, tmp_path)


# --- events in the shapes they are saved in (builders: amistate.testing) --------------------


def started(n: int) -> str:
    """When build ``n`` started (``dateCreated``): later builds started later."""
    return f"2024-01-{10 + n:02d}T09:00:00.000Z"


def image(
    preset: str,
    n: int,
    status: str = "AVAILABLE",
    ami: str | None = None,
    created: str | None = None,
) -> dict[str, Any]:
    """Image Builder's notification (the Image object) for build ``n`` of ``preset``."""
    amis = {REGION: ami} if ami else {}
    return image_notification(
        build(preset, n), pipeline(preset), status, amis, created or started(n)
    )


def sqs_message(body: str, message_id: str, sent_ms: int | None = None) -> dict[str, Any]:
    """One message as ``aws sqs receive-message --attribute-names All`` prints it."""
    message: dict[str, Any] = {
        "MessageId": message_id,
        "ReceiptHandle": f"AQEB{message_id}",
        "MD5OfBody": "0" * 32,
        "Body": body,
    }
    if sent_ms is not None:
        message["Attributes"] = {"SentTimestamp": str(sent_ms), "ApproximateReceiveCount": "3"}
    return message


# --- in-process: amistate.cli.main.main([...]) ------------------------------------------------


class Operator:
    """``amistate`` run in-process (``main([...])``) in a :class:`Cli` world, with the
    variables a user would have set; the Lambda handler is reachable in the same world."""

    def __init__(self, cli: Cli, capsys: pytest.CaptureFixture[str]) -> None:
        self.cli = cli
        self.capsys = capsys
        self.ec2 = cli.table_endpoint.client("ec2")
        self._amis = 0

    def run(self, *args: str) -> tuple[int, str, str]:
        """``amistate ARGS``: exit code, stdout, stderr."""
        from amistate.cli.main import main

        self.capsys.readouterr()
        code = main(list(args))
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *args: str, code: int = 0) -> Any:
        done, out, err = self.run(*args, "--json")
        assert done == code, (done, out, err)
        return json.loads(out)

    def ami(self) -> str:
        """A real AMI ID (moto's EC2 registers it: it exists and is available)."""
        self._amis += 1
        made = self.ec2.register_image(Name=f"amistate-cli-{self._amis}")
        return str(made["ImageId"])

    def handle(self, event: Mapping[str, Any]) -> None:
        """One event through the state Lambda's handler, in this world."""
        from amistate.cli.target import Options, open_runtime, resolve
        from amistate.shims import lambda_handler

        open_runtime(resolve(Options(), os.environ))  # installs the runtime for the handler
        assert lambda_handler.handler(dict(event), LambdaContext()) is None

    def build(
        self,
        preset: str,
        hour: int,
        status: str = "AVAILABLE",
        deliver: bool = True,
        reason: str | None = None,
    ) -> tuple[str, str | None]:
        """A build of ``preset``'s pipeline started at ``hour`` on the stand-in, finished
        20 minutes later with a real AMI (if AVAILABLE); its EventBridge event goes through
        the Lambda handler unless ``deliver`` is False (a lost event). (build ARN, AMI)."""
        start = datetime(2024, 3, 1, tzinfo=UTC) + timedelta(hours=hour)
        built = run_build(
            self.cli.images,
            pipeline(preset),
            start,
            status,
            new_ami=lambda _: self.ami(),
            reason=reason,
            deliver=deliver,
        )
        for event in self.cli.images.take_events():
            self.handle(event)
        return built.arn, built.ami_id

    def tags(self, ami: str) -> dict[str, str]:
        [found] = self.ec2.describe_images(ImageIds=[ami])["Images"]
        return {tag["Key"]: tag["Value"] for tag in found.get("Tags", [])}

    def deliver(self, *notifications: Mapping[str, Any]) -> None:
        """Each notification through the state Lambda's handler, as SNS delivers it."""
        from amistate.cli.target import Options, open_runtime, resolve
        from amistate.shims import lambda_handler

        open_runtime(resolve(Options(), os.environ))  # installs the runtime for the handler
        for n, body in enumerate(notifications):
            event = sns_event(sns_envelope(body, f"2024-02-01T00:00:{n:02d}Z"))
            assert lambda_handler.handler(event, LambdaContext()) is None


@pytest.fixture
def op(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Operator]:
    from amistate.shims import runtime

    for name in ("AMISTATE_TABLE", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.setenv(name, cli.env[name])
    monkeypatch.setenv("AWS_ENDPOINT_URL_IMAGEBUILDER", cli.images.url)
    monkeypatch.delenv("AMISTATE_PARAMETER_PREFIX", raising=False)
    monkeypatch.delenv("AMISTATE_EXTRA_REGIONS", raising=False)
    cli.images.reset()
    runtime.reset()
    yield Operator(cli, capsys)
    runtime.reset()


def init(op: Operator, preset: str, config: Mapping[str, Any] = CONFIG) -> None:
    """Register ``preset`` in-process (``amistate init ... --no-build``)."""
    path = op.cli.write(f"{preset}.json", config)
    op.json("init", preset, "--pipeline-arn", pipeline(preset), "--config", path, "--no-build")
