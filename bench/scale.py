"""Deliverable 5: 10,000 events over 1,000 presets through 8 threads against dynalite.

DynamoDB is dynalite (node, in memory, applies conditional writes atomically
per item), SSM and GetImage are the loopback bench server (moto). Each preset
gets nine builds (two of them failures) as EventBridge or SNS events, plus one
redelivery of one of them; the events of four presets at a time are shuffled
together, so the 8 threads keep racing on the same records. Then the end
state is checked against the events alone (not against amistate's rules):

* the record's status and buildId are those of the preset's newest event;
* its amiId is the AMI of the newest *successful* build;
* SSM's amiId equals the record's, and every other key of the config is intact.

The same events then go through the hand-written baseline (its own table and
parameters), to show what the extra calls buy.
"""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from attrs import frozen

from bench.calls import eb, sns
from bench.common import CONFIG, ROOT, table
from bench.server import BenchServer
from bench.world import (
    BASELINE_PREFIX,
    PREFIX,
    Context,
    World,
    environment,
    preset_ami,
    preset_build,
    preset_name,
)

TABLE = "amistate-scale"
BUILDS = 9
FAILED_BUILDS = frozenset({4, 8})


@frozen
class Planned:
    preset: int
    build: int
    status: str
    event: dict[str, Any]


def plan(presets: int, seed: int = 11) -> list[Planned]:
    """``presets * (BUILDS + 1)`` events, shuffled four presets at a time."""
    rng = random.Random(seed)
    blocks: list[list[Planned]] = []
    block: list[Planned] = []
    for p in range(1, presets + 1):
        for b in range(1, BUILDS + 1):
            status = "FAILED" if b in FAILED_BUILDS else "AVAILABLE"
            make = eb if rng.random() < 0.5 else sns
            block.append(Planned(p, b, status, make(p, b, status)))
        block.append(rng.choice(block[-BUILDS:]))  # one redelivery
        if p % 4 == 0 or p == presets:
            rng.shuffle(block)
            blocks.append(block)
            block = []
    return [planned for chunk in blocks for planned in chunk]


@frozen
class Expected:
    build: int
    status: str
    ami: str


def expected(events: Sequence[Planned]) -> dict[int, Expected]:
    """What each preset must end with, from the events alone (later build = later time)."""
    newest: dict[int, int] = {}
    good: dict[int, int] = {}
    for e in events:
        newest[e.preset] = max(newest.get(e.preset, 0), e.build)
        if e.status == "AVAILABLE":
            good[e.preset] = max(good.get(e.preset, 0), e.build)
    return {
        p: Expected(
            b,
            "failed" if b in FAILED_BUILDS else "ready",
            preset_ami(p, good[p]) if p in good else "",
        )
        for p, b in newest.items()
    }


@contextmanager
def dynalite() -> Iterator[str]:
    """dynalite on a free loopback port (node_modules from ``npm ci``)."""
    from tests.servers import DYNALITE_CLI, Endpoint, _wait_until_ready, free_port

    port = free_port()
    process = subprocess.Popen(
        ["node", str(DYNALITE_CLI), "--port", str(port), "--createTableMs", "0"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(process, Endpoint(url))
        yield url
    finally:
        process.kill()
        process.wait(timeout=10)


@frozen
class Side:
    name: str
    events: int
    seconds: float
    errors: int
    retried_ok: int
    calls: int | None
    decisions: Mapping[str, int]
    violations: Mapping[str, int]

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def total_violations(self) -> int:
        return sum(self.violations.values())


def _drive(
    handle: Callable[[dict[str, Any]], object], events: Sequence[Planned], threads: int
) -> tuple[float, list[Planned], list[Planned]]:
    """Run every event on ``threads`` threads; then retry the failed ones once (as Lambda would)."""
    failed: list[Planned] = []
    lock = threading.Lock()

    def one(e: Planned) -> None:
        try:
            handle(e.event)
        except Exception:
            with lock:
                failed.append(e)

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, events))
    seconds = time.perf_counter() - start
    still: list[Planned] = []
    for e in failed:
        try:
            handle(e.event)
        except Exception:
            still.append(e)
    return seconds, failed, still


def _check(
    world: World, presets: int, want: Mapping[int, Expected], prefix: str, key: str
) -> dict[str, int]:
    """Count the violations of each kind over every preset."""
    violations: Counter[str] = Counter()
    names = [f"{prefix}/{preset_name(p)}" for p in range(1, presets + 1)]
    values: dict[str, dict[str, Any]] = {}
    for i in range(0, len(names), 10):
        found = world.ssm.get_parameters(Names=names[i : i + 10])["Parameters"]
        values |= {p["Name"]: json.loads(p["Value"]) for p in found}
    for p in range(1, presets + 1):
        pk = {"PK": {"S": f"{key}{preset_name(p)}"}, "SK": {"S": "LATEST"}}
        item = world.dynamodb.get_item(
            TableName=world.baseline_table if key.startswith("BASELINE") else world.table,
            Key=pk,
            ConsistentRead=True,
        ).get("Item", {})
        w = want[p]
        build = item.get("buildId", {}).get("S", "")
        status = item.get("status", {}).get("S", "")
        ami = item.get("amiId", {}).get("S", "")
        if build != preset_build(p, w.build) or status != w.status:
            violations["record is not the newest event"] += 1
        if ami != w.ami:
            violations["record AMI is not the newest success"] += 1
        value = values.get(f"{prefix}/{preset_name(p)}", {})
        if value.get("amiId") != ami:
            violations["SSM amiId differs from the record"] += 1
        if {k: v for k, v in value.items() if k != "amiId"} != CONFIG:
            violations["SSM config keys changed"] += 1
    return dict(violations)


def measure(server: BenchServer, presets: int = 1000, threads: int = 8) -> list[Side]:
    from amistate.shims import lambda_handler, runtime

    events = plan(presets)
    want = expected(events)
    server.outcomes(e.event for e in events)
    sides: list[Side] = []
    with dynalite() as dynamodb_url:
        env = {
            **server.env({"DYNAMODB": dynamodb_url}),
            "AMISTATE_TABLE": TABLE,
        }
        with environment(env):
            world = World(TABLE, TABLE + "-baseline")
            try:
                world.create_tables()
                with ThreadPoolExecutor(threads) as pool:
                    list(pool.map(world.add_preset, range(1, presets + 1)))
                world.decisions.take()
                context = Context()
                counter = runtime.get(context).calls
                before = counter.value
                seconds, failed, still = _drive(
                    lambda e: lambda_handler.handler(e, context), events, threads
                )
                calls = counter.value - before
                lines = world.decisions.take()
                sides.append(
                    Side(
                        "amistate",
                        len(events),
                        seconds,
                        len(failed),
                        len(failed) - len(still),
                        calls,
                        dict(Counter(str(line.get("decision")) for line in lines)),
                        _check(world, presets, want, PREFIX, "AMI#"),
                    )
                )
                outcomes: Counter[str] = Counter()
                lock = threading.Lock()

                def baseline(e: dict[str, Any]) -> None:
                    outcome = world.baseline.handle(e)
                    with lock:
                        outcomes[outcome] += 1

                seconds, failed, still = _drive(baseline, events, threads)
                sides.append(
                    Side(
                        "baseline",
                        len(events),
                        seconds,
                        len(failed),
                        len(failed) - len(still),
                        None,
                        dict(outcomes),
                        _check(world, presets, want, BASELINE_PREFIX, "BASELINE#"),
                    )
                )
            finally:
                world.close()
    return sides


def render(sides: Sequence[Side], presets: int, threads: int) -> str:
    rows = []
    for s in sides:
        rows.append(
            (
                s.name,
                f"{s.events:,}",
                presets,
                threads,
                f"{s.seconds:.1f}",
                f"{s.rate:,.0f}",
                f"{s.calls / s.events:.2f}" if s.calls is not None else "—",
                f"{s.errors} ({s.retried_ok} succeeded on retry)",
                ", ".join(f"{k} {v}" for k, v in sorted(s.decisions.items())),
                f"**{s.total_violations}**",
            )
        )
    text = table(
        [
            "handler",
            "events",
            "presets",
            "threads",
            "seconds",
            "events/s",
            "AWS calls/event",
            "errors",
            "decisions",
            "ordering violations at the end",
        ],
        rows,
    )
    details = [
        f"- {s.name}: " + (", ".join(f"{k}: {v}" for k, v in s.violations.items()) or "none")
        for s in sides
    ]
    return text + "\n\nViolations by kind:\n\n" + "\n".join(details)


def run(server: BenchServer, presets: int = 1000, threads: int = 8) -> tuple[str, list[Side]]:
    sides = measure(server, presets, threads)
    return render(sides, presets, threads), sides


if __name__ == "__main__":
    with BenchServer() as bench_server:
        print(run(bench_server, 40, 8)[0])
