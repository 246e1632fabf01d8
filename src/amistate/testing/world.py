"""A local world for tests of code that reads amistate: AWS on 127.0.0.1, in this process.

moto's server (DynamoDB, SSM, EC2) and the Image Builder stand-in run on free
loopback ports; the world creates the stack's table (``TABLE_SCHEMA``) and
points the process at them (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_IMAGEBUILDER``,
``AMISTATE_TABLE``, dummy credentials, the region), so ``amistate.read`` and a
user's own boto3 clients reach them unchanged. Presets are registered as a deploy
registers them, and builds reach the state through the real event Lambda
(:func:`amistate.shims.lambda_handler.handler`). Leaving the world restores the
environment and forgets amistate's cached clients.

moto is the ``test`` (or ``demo``) extra, imported only when a world starts.
"""

from __future__ import annotations

import json
import os
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from attrs import define, field, frozen

from amistate.testing.standin import ImageBuilderStandIn

REGION = "us-west-2"
ACCOUNT = "111122223333"
TABLE = "amistate-test"
#: Dummy credentials: moto accepts any.
CREDENTIAL = "testing"
#: When the world's first build starts; each next one an hour later.
FIRST_BUILD = datetime(2024, 6, 3, 5, 0, tzinfo=UTC)
MISSING_MOTO = (
    "amistate.testing needs moto's server: install the 'test' extra (or 'demo'), "
    "e.g. `pip install -e '.[test]'` in a clone of amistate"
)
_CLEARED = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE")


@define
class LambdaContext:
    """A Lambda context with what amistate's handlers read (``remaining_ms`` left)."""

    remaining_ms: int = 300_000
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:amistate-state"
    aws_request_id: str = field(factory=lambda: str(uuid.uuid4()))
    function_name: str = "amistate-state"
    log_stream_name: str = "2024/01/18/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@frozen
class Build:
    """A build the world ran: its ARN, its AMI in the home region (None unless AVAILABLE),
    and the Image object Image Builder holds for it."""

    arn: str
    ami_id: str | None
    image: Mapping[str, Any]


class Servers:
    """moto's server and the Image Builder stand-in; :meth:`close` stops both."""

    def __init__(self) -> None:
        try:
            from amistate.testing.moto_server import MotoServer
        except ImportError as exc:
            raise ImportError(MISSING_MOTO) from exc
        import logging

        for name in ("werkzeug", "moto"):
            logging.getLogger(name).setLevel(logging.ERROR)
        self.moto = MotoServer()
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.moto_url = f"http://{host}:{port}"
        self.images = ImageBuilderStandIn()

    def reset(self) -> None:
        """Empty both: every table, parameter, image and build gone."""
        url = f"{self.moto_url}/moto-api/reset"  # always http://127.0.0.1:<port>
        request = urllib.request.Request(url, method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass
        self.images.reset()

    def close(self) -> None:
        self.images.close()
        self.moto.stop()


class LocalWorld:
    """One world on running :class:`Servers`: a table, presets, builds."""

    def __init__(self, servers: Servers, region: str, table: str, account: str) -> None:
        self.servers, self.region, self.table, self.account = servers, region, table, account
        self.images = servers.images
        self.moto_url = servers.moto_url
        self.parameter_prefix = "/spot-runner/configs"
        self.context = LambdaContext(
            invoked_function_arn=f"arn:aws:lambda:{region}:{account}:function:amistate-state"
        )
        self._builds = 0
        #: What the process's environment holds while the world is entered.
        self.environment = {
            "AWS_ACCESS_KEY_ID": CREDENTIAL,
            "AWS_SECRET_ACCESS_KEY": CREDENTIAL,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ENDPOINT_URL_IMAGEBUILDER": self.images.url,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AMISTATE_TABLE": table,
            "AMISTATE_PARAMETER_PREFIX": self.parameter_prefix,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }

    def client(self, service: str, account: str | None = None) -> Any:
        """A boto3 client of ``service`` in this world (moto's, or the stand-in's);
        with ``account``, acting in that target account through its role (moto keeps
        each assumed role's account apart)."""
        import boto3.session

        url = self.images.url if service == "imagebuilder" else self.moto_url
        keys: dict[str, Any] = {
            "aws_access_key_id": CREDENTIAL,
            "aws_secret_access_key": CREDENTIAL,
        }
        if account is not None:
            sts = boto3.session.Session(**keys, region_name=self.region).client(
                "sts", endpoint_url=self.moto_url
            )
            role = f"arn:aws:iam::{account}:role/amistate-target"
            found = sts.assume_role(RoleArn=role, RoleSessionName="amistate-testing")
            creds = found["Credentials"]
            keys = {
                "aws_access_key_id": creds["AccessKeyId"],
                "aws_secret_access_key": creds["SecretAccessKey"],
                "aws_session_token": creds["SessionToken"],
            }
        session = boto3.session.Session(**keys, region_name=self.region)
        return session.client(service, endpoint_url=url)  # type: ignore[call-overload]

    def pipeline(self, preset: str) -> str:
        """The Image Builder pipeline ARN :meth:`register` gives ``preset`` by default."""
        return f"arn:aws:imagebuilder:{self.region}:{self.account}:image-pipeline/runner-{preset}"

    def register(
        self,
        preset: str,
        config: Mapping[str, Any],
        pipeline_arn: str | None = None,
        target_accounts: Sequence[str] = (),
    ) -> str:
        """Register ``preset`` as the stack's custom resource does (no build started);
        its parameter gets ``config`` with ``amiId`` at the first good build, in our
        account and in each of ``target_accounts``. Returns the pipeline ARN.
        InvalidProperties names a bad field."""
        from amistate.usecases.deploy import client_token, parse_properties

        props = parse_properties(
            {
                "PresetName": preset,
                "PipelineArn": pipeline_arn or self.pipeline(preset),
                "Config": json.dumps(dict(config)),
                "StartBuild": "false",
                "TargetAccounts": list(target_accounts),
            }
        )
        self.images.pipelines.add(props.pipeline_arn)
        self._runtime().deployer.create(props, client_token("amistate-testing", preset))
        return props.pipeline_arn

    def build(
        self,
        preset: str,
        status: str = "AVAILABLE",
        *,
        deliver: bool = True,
        copy_to: Sequence[str] | None = None,
    ) -> Build:
        """A build of ``preset``'s pipeline: started an hour after the world's previous
        one, ended 20 minutes later with a real AMI in moto's EC2 (when AVAILABLE), and
        a copy in each account of ``copy_to`` (default: the preset's target accounts),
        listed in ``outputResources.amis[]`` with its ``accountId``; its EventBridge
        event goes through the event Lambda unless ``deliver`` is False (a lost event,
        which the reconciler heals)."""
        record = self._runtime().service.require(preset)
        started = FIRST_BUILD + timedelta(hours=self._builds)
        self._builds += 1
        pipeline = record.pipeline_arn or self.pipeline(preset)
        built = run_build(
            self.images,
            pipeline,
            started,
            status,
            new_ami=self._new_ami,
            region=self.region,
            deliver=deliver,
            copies=copy_to if copy_to is not None else record.target_accounts,
            new_copy=self._new_ami,
        )
        for event in self.images.take_events():
            self.deliver(event)
        return built

    def deliver(self, event: Mapping[str, Any]) -> Any:
        """``event`` (EventBridge, SNS or SQS) through the event Lambda's handler."""
        from amistate.shims import lambda_handler

        context = LambdaContext(invoked_function_arn=self.context.invoked_function_arn)
        return lambda_handler.handler(dict(event), context)

    def parameter(self, preset: str, account: str | None = None) -> dict[str, Any]:
        """The preset's SSM parameter (the runners' configuration), parsed; with
        ``account``, that target account's."""
        name = f"{self.parameter_prefix}/{preset}"
        found: dict[str, Any] = json.loads(
            self.client("ssm", account).get_parameter(Name=name)["Parameter"]["Value"]
        )
        return found

    def _new_ami(self, build_arn: str, account: str | None = None) -> str:
        name = build_arn.rpartition(":image/")[2]
        made = self.client("ec2", account).register_image(Name=name)
        return str(made["ImageId"])

    def _runtime(self) -> Any:
        from amistate.shims import runtime

        return runtime.get(self.context)

    @contextmanager
    def entered(self) -> Iterator[LocalWorld]:
        """The process pointed at this world (its table created) until the block ends."""
        saved = dict(os.environ)
        for name in list(os.environ):
            if name.startswith(("AWS_", "AMISTATE_")) or name in _CLEARED:
                del os.environ[name]
        os.environ.update(self.environment)
        _forget()
        try:
            create_table(self.client("dynamodb"), self.table)
            yield self
        finally:
            _forget()
            os.environ.clear()
            os.environ.update(saved)


def run_build(
    images: ImageBuilderStandIn,
    pipeline_arn: str,
    started: datetime,
    status: str = "AVAILABLE",
    *,
    new_ami: Callable[[str], str],
    region: str = REGION,
    minutes: float = 20,
    reason: str | None = None,
    deliver: bool = True,
    copies: Sequence[str] = (),
    new_copy: Callable[[str, str], str] | None = None,
) -> Build:
    """A build of ``pipeline_arn`` on the stand-in, started at ``started`` and ended
    ``minutes`` later; an AVAILABLE one gets ``new_ami(build_arn)`` (a real AMI, e.g.
    RegisterImage on moto's EC2) in ``region``, and ``new_copy(build_arn, account)`` in
    each account of ``copies`` (listed with its ``accountId``). Its EventBridge event
    waits in the stand-in's outbox (``take_events()``) unless ``deliver`` is False."""
    arn = images.new_build(pipeline_arn, started)
    ami = new_ami(arn) if status == "AVAILABLE" else None
    made = new_copy if new_copy is not None else (lambda build, _: new_ami(build))
    image = images.finish(
        arn,
        status,
        {region: ami} if ami else {},
        reason=reason,
        finished=started + timedelta(minutes=minutes),
        deliver=deliver,
        copies={a: {region: made(arn, a)} for a in copies} if ami else {},
    )
    return Build(arn=arn, ami_id=ami, image=image)


def create_table(dynamodb: Any, name: str) -> None:
    """The stack's table (``TABLE_SCHEMA``: string PK/SK, on demand), ACTIVE on return."""
    from amistate_adapters.dynamodb import TABLE_SCHEMA

    dynamodb.create_table(TableName=name, **TABLE_SCHEMA)
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})


def _forget() -> None:
    """Drop amistate's cached runtime, reader and clients (they hold endpoints)."""
    from amistate_adapters import clients

    from amistate import read
    from amistate.shims import runtime

    runtime.reset()
    read.reset()
    clients.clear()


@contextmanager
def local_world(
    *, region: str = REGION, table: str = TABLE, account: str = ACCOUNT
) -> Iterator[LocalWorld]:
    """Start a :class:`LocalWorld` (its own servers) for the ``with`` block::

    with local_world() as world:
        world.register("linux-x64", {"instanceTypes": ["c7i.large"]})
        world.build("linux-x64")
    """
    servers = Servers()
    try:
        with LocalWorld(servers, region, table, account).entered() as world:
            yield world
    finally:
        servers.close()


__all__ = [
    "ACCOUNT",
    "MISSING_MOTO",
    "REGION",
    "TABLE",
    "Build",
    "LambdaContext",
    "LocalWorld",
    "Servers",
    "create_table",
    "local_world",
    "run_build",
]
