"""Shared test servers speaking the real AWS wire protocol (import via tests/conftest.py).

Fixtures (all documented here so other suites can reuse them):

* ``aws_env`` (function): dummy credentials and ``AWS_DEFAULT_REGION=us-west-2``
  in the environment, real AWS settings (profiles, endpoints) removed.
* ``moto_server`` (session): one ``ThreadedMotoServer`` on a free loopback port;
  yields a :class:`Endpoint`. Prefer ``moto``, which also resets it. Session
  fixtures never touch the environment: :meth:`Endpoint.client` passes dummy
  credentials, region and endpoint explicitly.
* ``moto`` (function): the same endpoint, reset (``POST /moto-api/reset``)
  before the test, with ``aws_env`` applied.
* ``dynalite_server`` (session): dynalite (npm, ``node_modules/dynalite``) in
  memory on a free port, started once, killed at the end. Missing node or
  node_modules fails the test with the fix (``make test`` installs it).
* ``dynalite_table`` (function): a fresh, uniquely named table on dynalite;
  yields a :class:`Table` (client + name).
* ``moto_table`` (function): a fresh table on the reset moto server.

Every table has string ``PK``/``SK`` keys and on-demand billing, like the stack's.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from attrs import frozen
from botocore.config import Config

from amistate.testing.world import create_table as create_table  # re-exported for the suites

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

REPO = Path(__file__).resolve().parent.parent
DYNALITE_CLI = REPO / "node_modules" / "dynalite" / "cli.js"
REGION = "us-west-2"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
_CLEARED = ("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE")
_table_numbers = itertools.count(1)
#: Test clients retry little: a failure should show, not hide behind backoff.
TEST_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=5)


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _apply_env(mp: pytest.MonkeyPatch) -> None:
    for name in _CLEARED:
        mp.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL_"):
            mp.delenv(name)
    for name, value in CREDENTIALS.items():
        mp.setenv(name, value)
    # No ~/.aws files: only the dummy credentials above.
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    mp.setenv("AWS_CONFIG_FILE", os.devnull)


@frozen
class Endpoint:
    """A local server that speaks AWS; ``client()`` makes boto3 clients for it."""

    url: str

    def client(self, service: str, region: str = REGION, config: Config | None = None) -> Any:
        return boto3.session.Session().client(
            service,  # type: ignore[call-overload]
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config or TEST_CONFIG,
        )

    def dynamodb(self, region: str = REGION) -> DynamoDBClient:
        client: DynamoDBClient = self.client("dynamodb", region)
        return client


@frozen
class Table:
    """A fresh table and a client for it."""

    name: str
    client: DynamoDBClient
    endpoint: Endpoint
    backend: str  # "moto" or "dynalite"


def unique_table_name() -> str:
    return f"amistate-test-{os.getpid()}-{next(_table_numbers)}"


# ---------------------------------------------------------------- environment


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and region; no real AWS configuration can leak in."""
    _apply_env(monkeypatch)


# ---------------------------------------------------------------- moto server


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Endpoint]:
    """moto's server over HTTP on a free loopback port, for the whole session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield Endpoint(f"http://{host}:{port}")
    finally:
        server.stop()


@pytest.fixture
def moto(moto_server: Endpoint, aws_env: None) -> Endpoint:
    """The moto server, emptied before this test."""
    url = f"{moto_server.url}/moto-api/reset"  # always http://127.0.0.1:<port>
    request = urllib.request.Request(url, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert response.status == 200
    return moto_server


@pytest.fixture
def moto_table(moto: Endpoint) -> Table:
    """A fresh table on the (reset) moto server."""
    client = moto.dynamodb()
    name = unique_table_name()
    create_table(client, name)
    return Table(name=name, client=client, endpoint=moto, backend="moto")


# ---------------------------------------------------------------- dynalite

DYNALITE_START_TIMEOUT = 30.0


def _dynalite_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (Node.js >= 18 runs dynalite)"
    if not DYNALITE_CLI.is_file():
        return f"{DYNALITE_CLI.relative_to(REPO)} is missing (npm dependencies not installed)"
    return None


def _wait_until_ready(process: subprocess.Popen[bytes], endpoint: Endpoint) -> None:
    """Poll ListTables until dynalite answers (or exits, or the deadline passes)."""
    client = endpoint.client("dynamodb", config=Config(retries={"max_attempts": 1}))
    deadline = time.monotonic() + DYNALITE_START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"dynalite exited with {process.returncode}")
        try:
            client.list_tables()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # poll interval while the server starts, not a wait for an effect
        else:
            return


@pytest.fixture(scope="session")
def dynalite_server() -> Iterator[Endpoint]:
    """dynalite (in memory) on a free port for the whole session."""
    missing = _dynalite_missing()
    if missing:
        how = "run `make test` (it runs `npm ci`), or `npm ci` in the repository root"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"dynalite unavailable in CI: {missing}; the CI job must {how}")
        pytest.fail(f"dynalite unavailable: {missing}; {how}")
    port = free_port()
    process = subprocess.Popen(
        ["node", str(DYNALITE_CLI), "--port", str(port), "--createTableMs", "0"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = Endpoint(f"http://127.0.0.1:{port}")
    try:
        _wait_until_ready(process, endpoint)
        yield endpoint
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture
def dynalite_table(dynalite_server: Endpoint, aws_env: None) -> Iterator[Table]:
    """A fresh, uniquely named table on dynalite, deleted after the test."""
    client = dynalite_server.dynamodb()
    name = unique_table_name()
    create_table(client, name)
    yield Table(name=name, client=client, endpoint=dynalite_server, backend="dynalite")
    client.delete_table(TableName=name)
