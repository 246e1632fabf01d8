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
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from attrs import define, field, frozen

from amistate import settings as config
from amistate.names import DEFAULT_PARAMETER_PREFIX, parameter_name
from amistate.parsing import DETAIL_TYPE, EVENT_SOURCE
from amistate.shims import custom_resource, runtime

from . import render
from .invoke import Invocation, Invoker, LambdaContext, capturing
from .operate import PresetView, status_text, view
from .standin import ImageBuilderStandIn

REGION = "us-west-2"
OTHER_REGION = "eu-west-1"  # builds are distributed here too; the presets use us-west-2
ACCOUNT = "111122223333"
TABLE = "amistate-demo"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:amistate-state"
STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/spot-runners/6a7e8feb"
DAY = "2024-06-03"
#: The demo promises to finish within this; it checks itself.
BUDGET_SECONDS = 20.0

PRESETS: Mapping[str, Mapping[str, Any]] = {
    "linux-x64": {
        "instanceTypes": ["c7i.large", "m7i.large"],
        "timeout": 3600,
        "labels": ["self-hosted", "linux", "x64"],
        "spot": True,
    },
    "linux-arm64": {
        "instanceTypes": ["c7g.large"],
        "timeout": 3600,
        "labels": ["self-hosted", "linux", "arm64"],
        "spot": True,
    },
}
#: linux-arm64's parameter existed before amistate: an operator tuned maxRunners by hand.
HAND_MADE = {
    "instanceTypes": ["c7g.large"],
    "timeout": 3600,
    "labels": ["self-hosted", "linux", "arm64"],
    "spot": True,
    "maxRunners": 8,
    "amiId": "ami-0123456789abcdef0",
}


def pipeline(preset: str) -> str:
    return f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image-pipeline/spot-runner-{preset}"


def ami(build_arn: str, region: str = REGION) -> str:
    """A realistic, deterministic AMI ID per build and region."""
    return "ami-0" + hashlib.sha256(f"{build_arn}@{region}".encode()).hexdigest()[:16]


def at(clock: str) -> datetime:
    return datetime.fromisoformat(f"{DAY}T{clock}+00:00")


# --- the events, in the shapes AWS delivers them -----------------------------------------


def eventbridge(build_arn: str, status: str, when: datetime, reason: str | None = None) -> Any:
    state: dict[str, str] = {"status": status}
    if reason:
        state["reason"] = reason
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": EVENT_SOURCE,
        "account": ACCOUNT,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [build_arn],
        "detail": {"previous-state": {"status": "TESTING"}, "state": state},
    }


def sns_envelope(image: Mapping[str, Any], when: datetime, message_id: str) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:imagebuilder-notifications",
        "Subject": None,
        "Message": json.dumps(image),
        "Timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "MessageAttributes": {},
    }


def sns(envelope: Mapping[str, Any]) -> Any:
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{envelope['TopicArn']}:{uuid.uuid4()}",
                "Sns": dict(envelope),
            }
        ]
    }


def sqs(envelope: Mapping[str, Any]) -> Any:
    return {
        "Records": [
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "AQEB" + uuid.uuid4().hex,
                "body": json.dumps(envelope),
                "attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1717400000000"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:amistate-events",
                "awsRegion": REGION,
            }
        ]
    }


# --- the timeline ------------------------------------------------------------------------


@frozen
class Step:
    """One delivery in the timeline; ``race`` steps with the same tag run in parallel."""

    caption: str
    preset: str
    build_arn: str
    status: str
    time: datetime
    via: str
    event: Any
    race: str | None = None


@define
class Line:
    """What the timeline prints for one step."""

    step: Step
    decision: str
    record_ami: str | None
    ssm_ami: str | None
    ssm_written: bool
    ssm_version: int | None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "caption": self.step.caption,
            "preset": self.step.preset,
            "buildId": self.step.build_arn,
            "status": self.step.status,
            "eventTime": render.iso(self.step.time),
            "via": self.step.via,
            "decision": self.decision,
            "recordAmiId": self.record_ami,
            "ssmAmiId": self.ssm_ami,
            "ssmWritten": self.ssm_written,
            "error": self.error,
        }


def timeline(ib: ImageBuilderStandIn, first: Mapping[str, str]) -> list[Step]:
    """The day's deliveries. ``first`` holds each preset's build started at deploy."""
    x64, arm = pipeline("linux-x64"), pipeline("linux-arm64")
    x1, a1 = first["linux-x64"], first["linux-arm64"]
    x2, x3 = ib.new_build(x64), ib.new_build(x64)
    a2, a3 = ib.new_build(arm), ib.new_build(arm)
    x4, x5 = ib.new_build(x64), ib.new_build(x64)
    both = (REGION, OTHER_REGION)

    def done(build: str) -> dict[str, Any]:
        return ib.finish(build, "AVAILABLE", {r: ami(build, r) for r in both})

    for build in (x1, x2, x4, x5):
        done(build)
    ib.finish(x3, "FAILED")
    a1_image, a2_image, a3_image = done(a1), done(a2), done(a3)
    a3_note = sns_envelope(a3_image, at("11:30:05"), str(uuid.uuid4()))
    reason = "Component step 'InstallDocker' failed: exit status 100"
    return [
        Step(
            "first build succeeds; AMI from GetImage; parameter created from the config",
            "linux-x64", x1, "AVAILABLE", at("06:00:12"), "EventBridge",
            eventbridge(x1, "AVAILABLE", at("06:00:12")),
        ),
        Step(
            "first build succeeds; SNS carries the AMI; hand-made maxRunners kept",
            "linux-arm64", a1, "AVAILABLE", at("06:04:40"), "SNS",
            sns(sns_envelope(a1_image, at("06:04:40"), str(uuid.uuid4()))),
        ),
        Step(
            "build 3 starts: not an outcome, ignored before any AWS call",
            "linux-x64", x3, "BUILDING", at("08:02:00"), "EventBridge",
            eventbridge(x3, "BUILDING", at("08:02:00")),
        ),
        Step(
            "build 3 fails: status failed, the last good AMI stays, SSM untouched",
            "linux-x64", x3, "FAILED", at("09:10:31"), "EventBridge",
            eventbridge(x3, "FAILED", at("09:10:31"), reason),
        ),
        Step(
            "build 2 succeeded at 08:45, delivered late: newest success, older than the failure",
            "linux-x64", x2, "AVAILABLE", at("08:45:03"), "EventBridge",
            eventbridge(x2, "AVAILABLE", at("08:45:03")),
        ),
        Step(
            "build 3 succeeds",
            "linux-arm64", a3, "AVAILABLE", at("11:30:05"), "SNS", sns(a3_note),
        ),
        Step(
            "build 2 succeeded at 10:02, delivered after build 3: older, no write at all",
            "linux-arm64", a2, "AVAILABLE", at("10:02:44"), "SNS",
            sns(sns_envelope(a2_image, at("10:02:44"), str(uuid.uuid4()))),
        ),
        Step(
            "the build 3 notification again (at-least-once, via the SQS queue)",
            "linux-arm64", a3, "AVAILABLE", at("11:30:05"), "SQS", sqs(a3_note),
        ),
        Step(
            "two builds finish together: two invocations race in two threads",
            "linux-x64", x4, "AVAILABLE", at("18:00:09"), "EventBridge",
            eventbridge(x4, "AVAILABLE", at("18:00:09")), race="race",
        ),
        Step(
            "(AMI columns: after both) whichever runs first, the newest build wins",
            "linux-x64", x5, "AVAILABLE", at("18:00:41"), "EventBridge",
            eventbridge(x5, "AVAILABLE", at("18:00:41")), race="race",
        ),
    ]  # fmt: skip


# --- running it --------------------------------------------------------------------------


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


@define
class Check:
    name: str
    ok: bool
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail}


@define
class Demo:
    """The running demo: servers, clients, and what it observed."""

    ib: ImageBuilderStandIn
    invoker: Invoker
    out: Callable[[str], None]
    ssm: Any = None
    dynamodb: Any = None
    lines: list[Line] = field(factory=list)
    checks: list[Check] = field(factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append(Check(name, ok, detail))

    def parameter(self, preset: str) -> tuple[dict[str, Any] | None, int | None]:
        name = parameter_name(DEFAULT_PARAMETER_PREFIX, preset)
        try:
            found = self.ssm.get_parameter(Name=name)["Parameter"]
        except self.ssm.exceptions.ParameterNotFound:
            return None, None
        return json.loads(found["Value"]), int(found["Version"])

    def deploy(self) -> dict[str, str]:
        """Register both presets through the custom resource (CDK Provider entry point)."""
        first: dict[str, str] = {}
        for preset, settings in PRESETS.items():
            event = {
                "RequestType": "Create",
                "ServiceToken": FUNCTION_ARN,
                "ResponseURL": "https://cloudformation-custom-resource-response.invalid/",
                "StackId": STACK_ID,
                "RequestId": str(uuid.uuid4()),
                "LogicalResourceId": "Preset" + preset.title().replace("-", ""),
                "ResourceType": "Custom::AmistatePreset",
                "ResourceProperties": {
                    "ServiceToken": FUNCTION_ARN,
                    "PresetName": preset,
                    "PipelineArn": pipeline(preset),
                    "Config": json.dumps(settings),
                    "StartBuild": "true",
                },
            }
            answer = custom_resource.on_event(event, LambdaContext(FUNCTION_ARN))
            first[preset] = answer["Data"]["BuildArn"]
            self.out(
                f"  {preset:<12} custom resource Create -> {answer['PhysicalResourceId']}, "
                f"first build started: {render.build(first[preset])}"
            )
        for preset in PRESETS:
            item = self._item(preset)
            self.check(
                f"{preset}: deploy created status=building, amiId=null",
                item.get("status") == {"S": "building"} and item.get("amiId") == {"NULL": True},
                f"item {item.get('status')}, {item.get('amiId')}",
            )
        return first

    def _item(self, preset: str) -> dict[str, Any]:
        key = {"PK": {"S": f"AMI#{preset}"}, "SK": {"S": "LATEST"}}
        found: dict[str, Any] = self.dynamodb.get_item(
            TableName=TABLE, Key=key, ConsistentRead=True
        ).get("Item", {})
        return found

    def play(self, steps: list[Step]) -> None:
        i = 0
        while i < len(steps):
            step = steps[i]
            if step.race is None:
                self._record([step], [self.invoker.invoke(step.event)])
                i += 1
                continue
            group = [s for s in steps[i:] if s.race == step.race]
            self._record(group, self._race(group))
            i += len(group)

    def _race(self, group: list[Step]) -> list[Invocation]:
        barrier = threading.Barrier(len(group))
        results: list[Invocation | None] = [None] * len(group)

        def run(index: int) -> None:
            barrier.wait()
            results[index] = self.invoker.invoke(group[index].event)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(group))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return [r for r in results if r is not None]

    def _record(self, steps: list[Step], invocations: list[Invocation]) -> None:
        versions = {s.preset: self._version_before.get(s.preset) for s in steps}
        for step, invocation in zip(steps, invocations, strict=True):
            value, version = self.parameter(step.preset)
            logged = invocation.lines[0] if invocation.lines else {}
            error = None
            if invocation.error is not None or not invocation.lines:
                error = f"{type(invocation.error).__name__}: {invocation.error}"
            elif logged.get("decision") in ("malformed", "error"):
                error = str(logged.get("message") or logged.get("problem"))
            line = Line(
                step=step,
                decision=str(logged.get("decision", "error")),
                record_ami=self._record_ami(step.preset),
                ssm_ami=(value or {}).get("amiId"),
                ssm_written=bool(logged.get("parameterWritten")),
                ssm_version=version,
                error=error,
            )
            self.lines.append(line)
            self.out(_format_line(len(self.lines), line))
            if step.caption:
                self.out(f"      {step.caption}")
            if error:
                self.out(f"      ERROR: {error}")
            self.check(
                f"step {len(self.lines)} ({step.preset} {render.version(step.build_arn)} "
                f"{step.status}) handled without error",
                error is None,
                error or "",
            )
            quiet = line.decision in ("ignored", "stale", "duplicate") or step.status == "FAILED"
            if quiet and step.race is None:
                # (In a race the other invocation may write; and a stale success
                # rightly converges SSM if the winner has not written it yet.)
                unchanged = versions.get(step.preset) == version
                self.check(
                    f"step {len(self.lines)} ({line.decision} {step.status}) made no SSM write",
                    unchanged and not line.ssm_written,
                    f"parameter version {versions.get(step.preset)} -> {version}",
                )
        for preset in {s.preset for s in steps}:
            self._version_before[preset] = self.parameter(preset)[1]

    _version_before: dict[str, int | None] = field(factory=dict)

    def _record_ami(self, preset: str) -> str | None:
        value = self._item(preset).get("amiId", {})
        return value.get("S") if isinstance(value, dict) else None

    def verify(self, steps: list[Step]) -> list[PresetView]:
        """The invariants, checked against what DynamoDB and SSM hold now."""
        service = runtime.get(LambdaContext(FUNCTION_ARN)).service
        views = [view(service, record) for record in service.scan()]
        for v in views:
            preset = v.record.preset
            mine = [s for s in steps if s.preset == preset and s.status in ("AVAILABLE", "FAILED")]
            newest = max(mine, key=lambda s: s.time)
            success = max((s for s in mine if s.status == "AVAILABLE"), key=lambda s: s.time)
            record = v.record
            self.check(
                f"{preset}: SSM amiId == record amiId",
                v.home.actual is not None and v.home.actual == record.ami_id,
                f"SSM {v.home.actual}, record {record.ami_id}",
            )
            expected_status = "ready" if newest.status == "AVAILABLE" else "failed"
            self.check(
                f"{preset}: record reflects the newest event ({render.version(newest.build_arn)} "
                f"{newest.status})",
                record.build_id == newest.build_arn
                and record.status == expected_status
                and record.updated_at == newest.time,
                f"record {render.version(record.build_id)} {record.status} "
                f"{render.when(record.updated_at)}",
            )
            self.check(
                f"{preset}: amiId is the newest success's ({render.version(success.build_arn)})",
                record.ami_id == ami(success.build_arn),
                f"record {record.ami_id}, expected {ami(success.build_arn)}",
            )
            value, _ = self.parameter(preset)
            kept = {k: v for k, v in (value or {}).items() if k != "amiId"}
            base = HAND_MADE if preset == "linux-arm64" else PRESETS[preset]
            wanted = {k: v for k, v in base.items() if k != "amiId"}
            self.check(
                f"{preset}: every other SSM key kept, with its JSON type",
                kept == wanted and list(kept) == list(wanted),
                json.dumps(kept),
            )
            item = self._item(preset)
            fields = ("PK", "SK", "amiId", "status", "updatedAt", "buildId")
            self.check(
                f"{preset}: item PK=AMI#{preset}, SK=LATEST with {', '.join(fields[2:])}",
                item.get("PK") == {"S": f"AMI#{preset}"}
                and item.get("SK") == {"S": "LATEST"}
                and all(name in item for name in fields),
                ", ".join(sorted(item)),
            )
        return views


def _format_line(number: int, line: Line) -> str:
    step = line.step
    ssm = render.dash(line.ssm_ami) + (" (written)" if line.ssm_written else "")
    return (
        f"  {number:>2}  {step.time.strftime('%H:%M')}  {step.preset:<12} "
        f"{render.version(step.build_arn):<8} {step.status:<9}  {step.via:<11}  "
        f"{line.decision:<12} {render.dash(line.record_ami):<21}  {ssm}"
    )


HEADER = (
    "   #  time   preset       build    status     via          decision     "
    "record amiId           SSM amiId"
)


def run_demo(json_output: bool = False, debug: bool = False) -> int:
    started = time.monotonic()
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise SystemExit(
            "amistate: error: the demo needs moto: pip install 'amistate[demo]' (make demo does)"
        ) from None
    for name in ("werkzeug", "moto", "botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)

    printed: list[str] = []

    def out(text: str) -> None:
        if json_output:
            printed.append(text)
        else:
            print(text, flush=True)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    try:
        with ImageBuilderStandIn() as ib:
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
    seeded = threading.Thread(
        target=ssm.put_parameter,
        kwargs={"Name": hand_made, "Value": json.dumps(HAND_MADE), "Type": "String"},
        daemon=True,
    )
    seeded.start()

    out("amistate demo: offline, embedded; nothing leaves this machine")
    out(f"  moto server (DynamoDB, SSM)  {moto_url}")
    out(f"  Image Builder stand-in       {ib.url}")
    out(f"  table {TABLE}; parameters {DEFAULT_PARAMETER_PREFIX}/<preset>")
    out(f"  {hand_made} exists already, hand-made: maxRunners=8, an old amiId")
    out("")
    out("deploy (the real custom resource, amistate.shims.custom_resource.on_event):")
    with capturing(FUNCTION_ARN, echo=debug) as invoker:
        demo = Demo(ib=ib, invoker=invoker, out=out, ssm=ssm, dynamodb=dynamodb)
        first = demo.deploy()
        seeded.join()
        steps = timeline(ib, first)
        for preset in PRESETS:
            demo._version_before[preset] = demo.parameter(preset)[1]
        out("")
        out(f"timeline of {DAY} (UTC) through the real Lambda handler, in delivery order:")
        out(HEADER)
        demo.play(steps)
        views = demo.verify(steps)

    out("")
    out("final state (what `amistate status` prints):")
    out(status_text(views))
    elapsed = time.monotonic() - started
    demo.check(
        f"finished within {BUDGET_SECONDS:.0f} s", elapsed < BUDGET_SECONDS, f"{elapsed:.1f} s"
    )
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


__all__ = ["run_demo"]
