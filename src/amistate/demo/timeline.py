"""The demo's day: each delivery (a :class:`Step`) and what the timeline prints for it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from attrs import define, frozen

from amistate.cli import render
from amistate.demo.world import (
    OTHER_REGION,
    REGION,
    ami,
    at,
    eventbridge,
    pipeline,
    sns,
    sns_envelope,
    sqs,
)
from amistate.testing.standin import ImageBuilderStandIn


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


@frozen
class _Builds:
    """The day's builds, finished in the stand-in: x* of linux-x64, a* of linux-arm64."""

    x: tuple[str, ...]
    a: tuple[str, ...]
    a_images: tuple[dict[str, Any], ...]


def _builds(
    ib: ImageBuilderStandIn, first: Mapping[str, str], register: Callable[[str], str]
) -> _Builds:
    x64, arm = pipeline("linux-x64"), pipeline("linux-arm64")
    x1, a1 = first["linux-x64"], first["linux-arm64"]
    x2, x3 = ib.new_build(x64), ib.new_build(x64)
    a2, a3 = ib.new_build(arm), ib.new_build(arm)
    x4, x5 = ib.new_build(x64), ib.new_build(x64)
    both = (REGION, OTHER_REGION)

    def done(build: str, clock: str) -> dict[str, Any]:
        # The home region's AMI is real (moto's EC2), so the reconciler finds it; the
        # build ends when its event says, so the reconciler's view agrees with the events.
        amis = {r: register(build) if r == REGION else ami(build, r) for r in both}
        return ib.finish(build, "AVAILABLE", amis, finished=at(clock), deliver=False)

    for build, clock in ((x1, "06:00:12"), (x2, "08:45:03"), (x4, "18:00:09"), (x5, "18:00:41")):
        done(build, clock)
    ib.finish(x3, "FAILED", finished=at("09:10:31"), deliver=False)
    a_images = (done(a1, "06:04:40"), done(a2, "10:02:44"), done(a3, "11:30:05"))
    return _Builds(x=(x1, x2, x3, x4, x5), a=(a1, a2, a3), a_images=a_images)


def timeline(
    ib: ImageBuilderStandIn, first: Mapping[str, str], register: Callable[[str], str]
) -> list[Step]:
    """The day's deliveries (``first``: each preset's build started at deploy)."""
    b = _builds(ib, first, register)
    x1, x2, x3, x4, x5 = b.x
    a1, a2, a3 = b.a
    a1_image, a2_image, a3_image = b.a_images
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
