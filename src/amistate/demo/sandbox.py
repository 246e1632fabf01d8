"""``amistate sandbox``: the local world in one command, until interrupted.

Starts moto's server (DynamoDB, SSM, EC2) and the Image Builder stand-in
(:mod:`amistate.testing.standin`) on loopback ports, creates the table
(``TABLE_SCHEMA``), prints the ``export`` lines the other commands need, and
runs until Ctrl-C or SIGTERM, then shuts both servers down.

A build started in the sandbox (``amistate init``, or
``StartImagePipelineExecution``) finishes at once: AVAILABLE, with a new AMI
registered in moto's EC2 (a real ``ami-`` ID that ``aws ec2
deregister-image`` can remove). Its EventBridge "Image State Change" event is
saved as a JSON file in the events directory and named on stdout: hand it to
``amistate replay`` (the event delivered), or leave it (the event lost, which
``amistate reconcile`` heals). Nothing is sent anywhere but 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from amistate.testing.standin import ImageBuilderStandIn

REGION = "us-west-2"
TABLE = "amistate-sandbox"
#: Dummy credentials: moto accepts any.
CREDENTIAL = "sandbox"
READY = "sandbox ready; Ctrl-C to stop"


def exports(moto_url: str, imagebuilder_url: str, region: str, table: str) -> list[str]:
    """The shell lines that point the other commands (and the AWS CLI) at the sandbox."""
    values = {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_ENDPOINT_URL_IMAGEBUILDER": imagebuilder_url,
        "AWS_ACCESS_KEY_ID": CREDENTIAL,
        "AWS_SECRET_ACCESS_KEY": CREDENTIAL,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AMISTATE_TABLE": table,
    }
    return ["unset AWS_PROFILE AWS_SESSION_TOKEN"] + [f"export {k}={v}" for k, v in values.items()]


class Sandbox:
    """The running servers; :meth:`close` stops them."""

    def __init__(self, region: str, table: str, events: Path, out: Callable[[str], None]) -> None:
        from amistate.testing.moto_server import MotoServer

        self.region, self.table, self.events, self.out = region, table, events, out
        self.moto = MotoServer()
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        self._lock = threading.Lock()
        self.ec2 = self._client("ec2")
        self.imagebuilder = ImageBuilderStandIn(on_start=self.finish)

    def _client(self, service: str) -> Any:
        import boto3.session

        session = boto3.session.Session(
            aws_access_key_id=CREDENTIAL, aws_secret_access_key=CREDENTIAL, region_name=self.region
        )
        return session.client(service, endpoint_url=self.moto_url)  # type: ignore[call-overload]

    def create_table(self) -> None:
        from amistate_adapters.dynamodb import TABLE_SCHEMA

        dynamodb = self._client("dynamodb")
        dynamodb.create_table(TableName=self.table, **TABLE_SCHEMA)
        dynamodb.get_waiter("table_exists").wait(TableName=self.table)

    def finish(self, build_arn: str) -> None:
        """A build started: it succeeds with a new AMI; its event goes to a file."""
        version = build_arn.rpartition(":image/")[2]
        image = self.ec2.register_image(
            Name=version.replace("/", " "),
            RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
        )
        ami = image["ImageId"]
        with self._lock:
            self.imagebuilder.finish(build_arn, "AVAILABLE", {self.region: ami})
            for event in self.imagebuilder.take_events():
                name = event["resources"][0].rpartition(":image/")[2].replace("/", "-")
                path = self.events / f"{name}.json"
                path.write_text(json.dumps(event, indent=2) + "\n", encoding="utf-8")
                self.out(f"build {build_arn} AVAILABLE ({ami}): event saved to {path}")

    def close(self) -> None:
        self.imagebuilder.close()
        self.moto.stop()


def run_sandbox(
    region: str | None = None,
    table: str | None = None,
    events: str | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Run until interrupted (or ``stop`` is set); 0 after a clean shutdown."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        raise SystemExit(
            "amistate: error: the sandbox needs moto's server, the 'demo' extra: run `make demo` "
            "in the clone, or `pip install -e '.[demo]'` there (amistate is not on PyPI)"
        ) from None
    for name in ("werkzeug", "moto", "botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)

    def out(text: str) -> None:
        print(text, flush=True)

    stop = stop or threading.Event()
    folder = Path(events) if events else Path(tempfile.mkdtemp(prefix="amistate-sandbox-"))
    folder.mkdir(parents=True, exist_ok=True)
    sandbox = Sandbox(region or REGION, table or TABLE, folder.resolve(), out)
    previous = signal.getsignal(signal.SIGTERM)
    main = threading.current_thread() is threading.main_thread()
    try:
        if main:  # before the banner: a SIGTERM right after "sandbox ready" stops cleanly too
            signal.signal(signal.SIGTERM, _interrupt)
        sandbox.create_table()
        _banner(sandbox, out)
        while not stop.wait(timeout=3600):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
        sandbox.close()
    out("sandbox stopped")
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _banner(sandbox: Sandbox, out: Callable[[str], None]) -> None:
    out("amistate sandbox: moto (DynamoDB, SSM, EC2) and Image Builder on 127.0.0.1 only")
    out(f"# moto server {sandbox.moto_url}; Image Builder stand-in {sandbox.imagebuilder.url}")
    out(f"# table {sandbox.table} created in {sandbox.region}")
    out(f"# builds started here finish at once; their events are saved in {sandbox.events}")
    out("# in another shell, run:")
    for line in exports(sandbox.moto_url, sandbox.imagebuilder.url, sandbox.region, sandbox.table):
        out(line)
    out(READY)


__all__ = ["READY", "Sandbox", "exports", "run_sandbox"]
