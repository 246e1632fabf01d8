"""Playing the demo: deploy through the custom resource, deliver each step through the
Lambda handler, record what happened, and check the invariants against AWS."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

from attrs import define, field

from amistate.cli import render
from amistate.cli.invoke import Invocation, Invoker, LambdaContext
from amistate.cli.operate import PresetView, view
from amistate.core.names import (
    DEFAULT_PARAMETER_PREFIX,
    STATE_PREFIX,
    STATE_SK,
    parameter_name,
    state_pk,
)
from amistate.demo.timeline import Line, Step
from amistate.demo.world import (
    FUNCTION_ARN,
    HAND_MADE,
    PRESETS,
    STACK_ID,
    TABLE,
    pipeline,
)
from amistate.shims import custom_resource, runtime
from amistate.testing.standin import ImageBuilderStandIn


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
    ec2: Any = None
    amis: dict[str, str] = field(factory=dict)  # build ARN -> its AMI in the home region
    config: dict[str, dict[str, Any]] = field(
        factory=lambda: {p: dict(c) for p, c in PRESETS.items()}
    )
    lines: list[Line] = field(factory=list)
    checks: list[Check] = field(factory=list)
    rejected: set[str] = field(factory=set)  # builds an operator rejected (never live)

    def register(self, build_arn: str) -> str:
        """The build's AMI, registered in moto's EC2 (a real ``ami-`` ID)."""
        version = build_arn.rpartition(":image/")[2]
        image = self.ec2.register_image(
            Name=version.replace("/", " "),
            RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
        )
        self.amis[build_arn] = str(image["ImageId"])
        return self.amis[build_arn]

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
        key = {"PK": {"S": state_pk(preset)}, "SK": {"S": STATE_SK}}
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
        converger = runtime.get(LambdaContext(FUNCTION_ARN)).converger
        views = [view(converger, record) for record in converger.states.scan()]
        for v in views:
            preset = v.record.preset
            mine = [s for s in steps if s.preset == preset and s.status in ("AVAILABLE", "FAILED")]
            newest = max(mine, key=lambda s: s.time)
            good = [s for s in mine if s.status == "AVAILABLE" and s.build_arn not in self.rejected]
            success = max(good, key=lambda s: s.time)
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
                record.ami_id == self.amis.get(success.build_arn),
                f"record {record.ami_id}, expected {self.amis.get(success.build_arn)}",
            )
            value, _ = self.parameter(preset)
            kept = {k: v for k, v in (value or {}).items() if k != "amiId"}
            base = HAND_MADE if preset == "linux-arm64" else self.config[preset]
            wanted = {k: v for k, v in base.items() if k != "amiId"}
            self.check(
                f"{preset}: every other SSM key kept, with its JSON type",
                kept == wanted and list(kept) == list(wanted),
                json.dumps(kept),
            )
            item = self._item(preset)
            fields = ("PK", "SK", "amiId", "status", "updatedAt", "buildId")
            keys = f"PK={STATE_PREFIX}{preset}, SK={STATE_SK}"
            self.check(
                f"{preset}: item {keys} with {', '.join(fields[2:])}",
                item.get("PK") == {"S": state_pk(preset)}
                and item.get("SK") == {"S": STATE_SK}
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
