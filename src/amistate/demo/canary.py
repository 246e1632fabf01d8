"""After the day, a canary: linux-x64 moves to a ``manual`` rollout.

* the custom resource's Update sets ``RolloutPolicy: manual``;
* build 5 succeeds: it becomes the candidate; the parameter keeps ``amiId`` and
  adds ``candidateAmiId`` (a launcher sends a share of its runners there);
* ``amistate promote`` makes it live;
* build 6 succeeds and waits; ``amistate reject`` drops it for good: its event,
  redelivered, does not bring it back.
"""

from __future__ import annotations

import json
from typing import Any

from amistate.cli import render
from amistate.cli.invoke import LambdaContext
from amistate.demo.play import Demo
from amistate.demo.timeline import Step
from amistate.demo.world import FUNCTION_ARN, REGION, at, linux_x64_update, pipeline
from amistate.shims import custom_resource, runtime

PRESET = "linux-x64"


def _manual(demo: Demo) -> None:
    """The custom resource's Update: the same Config, ``RolloutPolicy: manual``."""
    props = {
        "ServiceToken": FUNCTION_ARN,
        "PresetName": PRESET,
        "PipelineArn": pipeline(PRESET),
        "Config": json.dumps(demo.config[PRESET]),
        "StartBuild": "false",
    }
    manual = {**props, "RolloutPolicy": "manual"}
    custom_resource.on_event(linux_x64_update(manual, props), LambdaContext(FUNCTION_ARN))
    demo.out("  20:00  linux-x64    custom resource Update: RolloutPolicy manual")


def _build(demo: Demo, clock: str) -> tuple[str, str, list[dict[str, Any]]]:
    """A good build of linux-x64, its event through the state Lambda's handler."""
    build = demo.ib.new_build(pipeline(PRESET), created=at(clock))
    ami = demo.register(build)
    demo.ib.finish(build, "AVAILABLE", {REGION: ami}, finished=at(clock).replace(minute=40))
    events = demo.ib.take_events()
    for event in events:
        demo.invoker.invoke(event)
    return build, ami, events


def _shown(demo: Demo) -> dict[str, Any]:
    value = demo.parameter(PRESET)[0] or {}
    return {k: value.get(k) for k in ("amiId", "candidateAmiId")}


def play_canary(demo: Demo) -> list[Step]:
    """The canary section; the builds ``verify`` must account for (build 6 rejected)."""
    live = _shown(demo)["amiId"]
    _manual(demo)
    build5, ami5, _ = _build(demo, "20:10:00")
    canary = _shown(demo)
    shown5 = render.version(build5)
    demo.out(f"  20:40  linux-x64    {shown5} AVAILABLE: the candidate; SSM {json.dumps(canary)}")
    demo.check(
        f"linux-x64: under manual, {shown5} is the candidate (candidateAmiId), amiId unchanged",
        canary == {"amiId": live, "candidateAmiId": ami5},
        json.dumps(canary),
    )
    promotions = runtime.get(LambdaContext(FUNCTION_ARN)).promotions
    promotions.promote(PRESET)
    promoted = _shown(demo)
    demo.out(f"  21:00  amistate promote linux-x64 -> SSM {json.dumps(promoted)}")
    demo.check(
        f"linux-x64: promote made {shown5} live, no candidate left",
        promoted == {"amiId": ami5, "candidateAmiId": None},
        json.dumps(promoted),
    )
    build6, ami6, events = _build(demo, "21:10:00")
    promotions.reject(PRESET, reason="canary jobs fail")
    for event in events:  # redelivered after the rejection
        demo.invoker.invoke(event)
    after = _shown(demo)
    shown6 = render.version(build6)
    demo.out(f"  21:40  linux-x64    {shown6} AVAILABLE ({ami6}): the candidate")
    demo.out(
        f"  21:45  amistate reject linux-x64 --reason 'canary jobs fail'; {shown6} redelivered"
    )
    demo.out(f"                      SSM {json.dumps(after)}")
    demo.check(
        f"linux-x64: the rejected {shown6} stays out, even redelivered",
        after == promoted,
        json.dumps(after),
    )
    demo.rejected.add(build6)
    return [
        Step("", PRESET, build5, "AVAILABLE", at("20:40:00"), "EventBridge", None),
        Step("", PRESET, build6, "AVAILABLE", at("21:40:00"), "EventBridge", None),
    ]


__all__ = ["play_canary"]
