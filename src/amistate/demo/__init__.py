"""``amistate demo``: the whole system, offline, in a few seconds.

moto's server (DynamoDB, SSM) and an Image Builder stand-in run in this
process on free loopback ports; every AWS call goes to them over HTTP through
boto3, exactly as in Lambda. Two presets are registered through the real
custom-resource code (``on_event``, which also starts each first build), then
a realistic day of build events is played through the real Lambda handler:
first builds succeed, a build fails, a success older than that failure
arrives late, an older success arrives after a newer one, a notification is
redelivered, and two invocations race in two threads. The demo then checks
the invariants itself and exits 1 if any breaks.

After the day, one build's event is lost and the reconcile Lambda heals it,
and a Config change reaches the runners' parameter through the custom
resource's Update.

Modules: :mod:`.world` (account, presets, event shapes), :mod:`.timeline`
(the day), :mod:`.play` (deploy, deliver, verify), :mod:`.after` (the lost
event, the reconcile run, the config change), :mod:`.standin` (Image Builder,
shared with the tests and the sandbox), :mod:`.sandbox` (``amistate sandbox``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from amistate.cli import render
from amistate.cli.invoke import capturing
from amistate.cli.operate import status_text
from amistate.core import settings as config
from amistate.core.names import DEFAULT_PARAMETER_PREFIX, parameter_name
from amistate.demo.after import play_after
from amistate.demo.play import HEADER, Demo
from amistate.demo.timeline import timeline
from amistate.demo.world import (
    DAY,
    FUNCTION_ARN,
    HAND_MADE,
    PRESETS,
    REGION,
    TABLE,
    day_clock,
)
from amistate.shims import runtime
from amistate.testing.standin import ImageBuilderStandIn


@contextmanager
def isolated_environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in os.environ, hide the user's AWS settings, restore everything after."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(("AWS_", "AMISTATE_")):
            del os.environ[name]
    os.environ.update(values)
    no_proxy = ",".join(filter(None, [saved.get("NO_PROXY", ""), "127.0.0.1,localhost"]))
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = no_proxy
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_demo(json_output: bool = False, debug: bool = False) -> int:
    started = time.monotonic()
    try:
        from amistate.testing.moto_server import MotoServer
    except ImportError:
        raise SystemExit(
            "amistate: error: the demo needs moto, the 'demo' extra: run `make demo` in the "
            "clone, or `pip install -e '.[demo]'` there (amistate is not on PyPI)"
        ) from None
    for name in ("werkzeug", "moto", "botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)

    printed: list[str] = []

    def out(text: str) -> None:
        if json_output:
            printed.append(text)
        else:
            print(text, flush=True)

    server = MotoServer()
    server.start()
    host, port = server.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    try:
        with ImageBuilderStandIn(clock=day_clock()) as ib:
            environment = {
                "AWS_ACCESS_KEY_ID": "demo",
                "AWS_SECRET_ACCESS_KEY": "demo",
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ENDPOINT_URL": moto_url,
                "AWS_ENDPOINT_URL_IMAGEBUILDER": ib.url,
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                config.TABLE: TABLE,
                config.PARAMETER_PREFIX: DEFAULT_PARAMETER_PREFIX,
            }
            with isolated_environment(environment):
                return _run(ib, moto_url, out, printed, started, json_output, debug)
    finally:
        runtime.reset()
        _clear_clients()
        server.stop()


def _client(service: str) -> Any:
    from amistate_adapters import clients

    return clients.client(service, REGION)  # type: ignore[call-overload]


def _patient_client(service: str) -> Any:
    """A client of its own that waits up to two minutes for an answer."""
    import boto3.session
    from amistate_adapters import clients
    from botocore.config import Config

    config = clients.client_config().merge(Config(read_timeout=120))
    return boto3.session.Session().client(service, region_name=REGION, config=config)  # type: ignore[call-overload]


class _Seeding(threading.Thread):
    """Runs ``work`` in the background; :meth:`join` raises what it raised."""

    def __init__(self, work: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self._work = work
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._work()
        except BaseException as exc:  # re-raised in the demo's thread by join()
            self.error = exc

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.error is not None:
            raise self.error


def _clear_clients() -> None:
    from amistate_adapters import clients

    clients.clear()


def _run(
    ib: ImageBuilderStandIn,
    moto_url: str,
    out: Callable[[str], None],
    printed: list[str],
    started: float,
    json_output: bool,
    debug: bool,
) -> int:
    """Set the world up, deploy, play the day, verify, report."""
    dynamodb, ssm, seeded = _set_up(ib, moto_url, out)
    with capturing(FUNCTION_ARN, echo=debug) as invoker:
        demo = Demo(ib=ib, invoker=invoker, out=out, ssm=ssm, dynamodb=dynamodb)
        demo.ec2 = _client("ec2")
        first = demo.deploy()
        seeded.join()
        steps = timeline(ib, first, demo.register)
        for preset in PRESETS:
            demo._version_before[preset] = demo.parameter(preset)[1]
        out("")
        out(f"timeline of {DAY} (UTC) through the real Lambda handler, in delivery order:")
        out(HEADER)
        demo.play(steps)
        later = play_after(demo)
        views = demo.verify(steps + later)
    out("")
    out("final state (what `amistate status` prints):")
    out(status_text(views))
    elapsed = time.monotonic() - started
    ok = _report(demo, out, elapsed)
    _where_next(out)
    if json_output:
        render.emit_json(
            {
                "ok": ok,
                "seconds": round(elapsed, 3),
                "timeline": [line.to_json() for line in demo.lines],
                "final": [v.to_json() for v in views],
                "checks": [c.to_json() for c in demo.checks],
            }
        )
    return 0 if ok else 1


def _set_up(
    ib: ImageBuilderStandIn, moto_url: str, out: Callable[[str], None]
) -> tuple[Any, Any, threading.Thread]:
    """The table, the hand-made parameter (seeded in the background), the banner."""
    from amistate_adapters import clients
    from amistate_adapters.dynamodb import TABLE_SCHEMA

    _clear_clients()
    runtime.reset()
    dynamodb = clients.client("dynamodb", REGION)
    ssm = clients.client("ssm", REGION)
    dynamodb.create_table(TableName=TABLE, **TABLE_SCHEMA)
    hand_made = parameter_name(DEFAULT_PARAMETER_PREFIX, "linux-arm64")
    # moto's first SSM call takes seconds (it loads AWS's public parameters):
    # make it in the background while DynamoDB and the deploy run.
    # EC2's first call is slow too (moto loads its public AMIs): warm it alongside.
    # Their own clients, patient: on a busy machine loading a backend outlasts the
    # production read timeout, and the demo must not print a traceback for that.
    patient_ssm, patient_ec2 = _patient_client("ssm"), _patient_client("ec2")

    def seed() -> None:
        # One after the other: moto's backends are not safe to load concurrently.
        patient_ssm.put_parameter(Name=hand_made, Value=json.dumps(HAND_MADE), Type="String")
        patient_ec2.describe_images(Owners=["self"])

    seeded = _Seeding(seed)
    seeded.start()
    out("amistate demo: offline, embedded; nothing leaves this machine")
    out(f"  moto server (DynamoDB, SSM, EC2)  {moto_url}")
    out(f"  Image Builder stand-in            {ib.url}")
    out(f"  table {TABLE}; parameters {DEFAULT_PARAMETER_PREFIX}/<preset>")
    out(f"  {hand_made} exists already, hand-made: maxRunners=8, an old amiId")
    out("")
    out("deploy (the real custom resource, amistate.shims.custom_resource.on_event):")
    return dynamodb, ssm, seeded


def _report(demo: Demo, out: Callable[[str], None], elapsed: float) -> bool:
    """Print the invariants; True when every check holds."""
    ok = all(c.ok for c in demo.checks)
    out("")
    out("invariants:")
    for c in demo.checks:
        if not c.ok or not c.name.startswith("step "):
            out(f"  {'ok  ' if c.ok else 'FAIL'}  {c.name}" + ("" if c.ok else f": {c.detail}"))
    steps_ok = sum(1 for c in demo.checks if c.name.startswith("step ") and c.ok)
    out(f"  ok    {steps_ok} per-step checks: no errors; no SSM write by a failed, stale,")
    out("        duplicate or ignored event")
    out("")
    out(
        f"{'all invariants hold' if ok else 'INVARIANTS BROKEN'}; "
        f"{len(demo.lines)} deliveries in {elapsed:.1f} s"
    )
    return ok


def _where_next(out: Callable[[str], None]) -> None:
    """Say how to reach the other commands when this ``amistate`` is not on PATH:
    ``make demo`` runs ``.venv/bin/amistate``, which a shell does not find by itself."""
    folder = Path(sys.executable).parent
    script = folder / "amistate"
    found = shutil.which("amistate")
    if not script.is_file() or (found is not None and Path(found).resolve() == script.resolve()):
        return
    relative = os.path.relpath(folder)
    where = str(folder) if relative.startswith("..") else relative
    how = (
        f"run `. {where}/activate`"
        if (folder / "activate").is_file()
        else f"add {where} to your PATH"
    )
    out("")
    out(f"the amistate command is in {where}, which is not on your PATH: {how} (or call")
    out(f"{where}/amistate), then try the other commands on a local world: `amistate sandbox`")


__all__ = ["run_demo"]
