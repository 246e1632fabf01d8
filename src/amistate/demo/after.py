"""After the day: a lost event healed by the reconcile Lambda, a config change, a canary.

* linux-arm64's build 4 finishes but its event never arrives (Image Builder's
  events are best effort): nothing changes until the scheduled reconcile run
  (:func:`amistate.shims.reconcile.handler`) finds the build in the pipeline's
  list and applies it as its event would have been;
* linux-x64's Config changes in the stack: the custom resource's Update
  (``on_event``) pushes it to the runners' parameter, AMI kept;
* a second reconcile run finds nothing to do;
* a canary (:mod:`amistate.demo.canary`), then a run that moves the in-use
  tags to the new live AMI, and one that finds nothing to do.
"""

from __future__ import annotations

import io
import json
import logging
from contextlib import redirect_stdout
from typing import Any

from amistate.cli.invoke import LambdaContext
from amistate.demo.canary import play_canary
from amistate.demo.play import Demo
from amistate.demo.timeline import Step
from amistate.demo.world import ACCOUNT, FUNCTION_ARN, REGION, at, linux_x64_update, pipeline
from amistate.shims import custom_resource, logs, reconcile, runtime
from amistate.testing.events import scheduled_event

#: linux-x64's Config after the change (a new instance type and a longer timeout).
UPDATED = {
    "instanceTypes": ["c7i.large", "m7i.large", "m7i.xlarge"],
    "timeout": 5400,
    "labels": ["self-hosted", "linux", "x64"],
    "spot": True,
    "maxRunners": 20,
}


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(record.getMessage()))


def _reconcile() -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """One scheduled run: its summary, its log lines, its EMF documents."""
    collect = _Lines()
    logs.logger.addHandler(collect)
    printed = io.StringIO()
    event = scheduled_event(
        f"arn:aws:events:{REGION}:{ACCOUNT}:rule/amistate-reconcile", at("19:15:00")
    )
    try:
        with redirect_stdout(printed):
            summary = reconcile.handler(event, LambdaContext(FUNCTION_ARN))
    finally:
        logs.logger.removeHandler(collect)
    metrics = [json.loads(line) for line in printed.getvalue().splitlines() if line]
    return summary, collect.lines, metrics


def _metric(documents: list[dict[str, Any]], name: str) -> float:
    return sum(float(d.get(name, 0)) for d in documents)


def lost_and_healed(demo: Demo) -> Step:
    """Build 4 of linux-arm64 succeeds, its event is lost; the reconciler applies it."""
    build = demo.ib.new_build(pipeline("linux-arm64"))
    ami = demo.register(build)
    finished = at("19:02:10")
    demo.ib.finish(build, "AVAILABLE", {"us-west-2": ami}, finished=finished, deliver=False)
    before = demo.parameter("linux-arm64")[0] or {}
    demo.out(f"  19:02  linux-arm64  1.0.0/4 AVAILABLE ({ami}): its event is lost")
    demo.check(
        "linux-arm64: the lost event changed nothing until the reconcile run",
        before.get("amiId") != ami,
        f"SSM amiId {before.get('amiId')}",
    )
    summary, lines, metrics = _reconcile()
    done = ", ".join(
        f"{line['action']} {line.get('preset') or line.get('region')}"
        for line in lines
        if line.get("done")
    )
    demo.out(f"  19:15  reconcile    (amistate.shims.reconcile.handler) {done}")
    after = demo.parameter("linux-arm64")[0] or {}
    demo.out(f"                      linux-arm64 SSM amiId now {after.get('amiId')}")
    fed = [line for line in lines if line["action"] == "feed" and line.get("done")]
    demo.check(
        "reconcile run: the lost build fed (ReconcileRepairs), nothing failed",
        build in [line["buildId"] for line in fed]
        and _metric(metrics, "ReconcileRepairs") == len(fed)
        and not summary["failed"]
        and not summary["problems"],
        json.dumps(summary),
    )
    demo.check(
        "linux-arm64: SSM amiId is the lost build's after the reconcile run",
        after.get("amiId") == ami,
        f"SSM {after.get('amiId')}, build 4's AMI {ami}",
    )
    return Step("", "linux-arm64", build, "AVAILABLE", finished, "reconcile", None)


def update_config(demo: Demo) -> None:
    """The stack changes linux-x64's Config: the custom resource's Update reaches SSM."""
    old = demo.config["linux-x64"]
    props = {
        "ServiceToken": FUNCTION_ARN,
        "PresetName": "linux-x64",
        "PipelineArn": pipeline("linux-x64"),
        "Config": json.dumps(UPDATED),
        "StartBuild": "false",
    }
    old_props = {**props, "Config": json.dumps(old), "StartBuild": "true"}
    event = linux_x64_update(props, old_props)
    ami_before = (demo.parameter("linux-x64")[0] or {}).get("amiId")
    custom_resource.on_event(event, LambdaContext(FUNCTION_ARN))
    demo.config["linux-x64"] = dict(UPDATED)
    value = demo.parameter("linux-x64")[0] or {}
    demo.out(
        "  19:30  linux-x64    custom resource Update: timeout 3600 -> 5400, "
        "+m7i.xlarge, maxRunners 20"
    )
    demo.out(f"                      SSM now {json.dumps(value)}")
    demo.check(
        "linux-x64: the Config update reached SSM, amiId kept",
        value == {**UPDATED, "amiId": ami_before},
        json.dumps(value),
    )


def settled(demo: Demo, clock: str = "19:45", run: int = 2) -> None:
    """Another reconcile run: nothing left to change."""
    rt = runtime.get(LambdaContext(FUNCTION_ARN))
    pending = rt.reconciler.run(dry_run=True)
    summary, _, _ = _reconcile()
    demo.out(f"  {clock}  reconcile    {'no change' if not pending.plan.changes else 'CHANGES'}")
    demo.check(
        f"reconcile run {run}: nothing to change, converged",
        pending.plan.changes == () and summary["converged"] is True,
        json.dumps(summary),
    )


def play_after(demo: Demo) -> list[Step]:
    """The after-the-day section; the extra builds ``verify`` must account for."""
    demo.out("")
    demo.out("after the day: a lost event, the reconcile Lambda, a config change:")
    healed = lost_and_healed(demo)
    update_config(demo)
    settled(demo)
    demo.out("")
    demo.out("a canary: a manual rollout, a promotion, a rejection:")
    canary = play_canary(demo)
    _, lines, _ = _reconcile()
    done = ", ".join(f"{line['action']} {line.get('region')}" for line in lines if line.get("done"))
    demo.out(f"  22:00  reconcile    in-use tags follow the live AMI: {done}")
    settled(demo, "22:15", 4)
    return [healed, *canary]


__all__ = ["UPDATED", "play_after"]
