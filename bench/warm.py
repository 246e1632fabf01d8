"""Deliverable 3: warm latency per event against moto's server, amistate vs the baseline.

One process, runtime and clients already built (a warm Lambda container):
amistate runs through ``lambda_handler.handler``, the baseline through
:class:`bench.baseline.Baseline`, each on its own presets, alternating event by
event. Every event is a new, newer build, so each one really writes. The
figure is the ratio of the median latencies; the absolute times are moto's
(a loopback server in another process), not AWS's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from attrs import frozen

from bench.calls import eb, sns
from bench.common import median, table
from bench.server import BenchServer
from bench.world import World, environment

TABLE = "amistate-warm"

KINDS: dict[str, Callable[[int, int], dict[str, Any]]] = {
    "success via EventBridge": lambda preset, n: eb(preset, n),
    "success via SNS": lambda preset, n: sns(preset, n),
    "failure via EventBridge": lambda preset, n: eb(preset, n, "FAILED"),
}


@frozen
class Sample:
    latency: float  # wall time of the whole event, in this process
    server: float  # time the loopback server spent answering its calls
    cpu: float  # CPU time of this process (client side: the server is another process)
    calls: int


@frozen
class Latency:
    kind: str
    amistate: list[Sample]
    baseline: list[Sample]

    def median(self, side: str, what: str) -> float:
        samples = self.amistate if side == "amistate" else self.baseline
        return median(getattr(s, what) for s in samples)

    def client(self, side: str) -> float:
        samples = self.amistate if side == "amistate" else self.baseline
        return median(s.latency - s.server for s in samples)

    @property
    def ratio(self) -> float:
        return self.median("amistate", "latency") / self.median("baseline", "latency")


def measure(server: BenchServer, events: int = 200) -> list[Latency]:
    results: list[Latency] = []
    with environment({**server.env(), "AMISTATE_TABLE": TABLE}):
        world = World(TABLE, TABLE + "-baseline")
        try:
            world.create_tables()
            for k, (kind, make) in enumerate(KINDS.items()):
                preset = 10 + k
                world.add_preset(preset)
                server.outcomes(make(preset, n) for n in range(1, events + 3))
                for n in (1, 2):  # warm-up: runtime, clients, connections, mapping cache
                    world.amistate(make(preset, n))
                    world.baseline.handle(make(preset, n))
                ours: list[Sample] = []
                theirs: list[Sample] = []
                server.calls()
                for n in range(3, events + 3):
                    event = make(preset, n)
                    pairs: list[tuple[list[Sample], Callable[[dict[str, Any]], object]]] = [
                        (ours, world.amistate),
                        (theirs, world.baseline.handle),
                    ]
                    if n % 2:
                        pairs.reverse()
                    for sink, handle in pairs:
                        cpu = time.process_time()
                        start = time.perf_counter()
                        handle(event)
                        latency = time.perf_counter() - start
                        cpu = time.process_time() - cpu
                        timed = server.timed_calls()
                        served = sum(seconds for _, seconds in timed)
                        sink.append(Sample(latency, served, cpu, len(timed)))
                results.append(Latency(kind, ours, theirs))
        finally:
            world.close()
    return results


def render(results: Sequence[Latency]) -> str:
    def ms(value: float) -> str:
        return f"{value * 1000:.2f}"

    rows = []
    for r in results:
        for side in ("amistate", "baseline"):
            rows.append(
                (
                    r.kind if side == "amistate" else "",
                    side,
                    f"{r.median(side, 'calls'):g}",
                    ms(r.median(side, "latency")),
                    ms(r.median(side, "server")),
                    ms(r.client(side)),
                    ms(r.median(side, "cpu")),
                    f"**{r.ratio:.2f}**" if side == "amistate" else "",
                    f"{r.client('amistate') / r.client('baseline'):.2f}"
                    if side == "amistate"
                    else "",
                )
            )
    return table(
        [
            f"event (warm, {len(results[0].amistate) if results else 0} each)",
            "handler",
            "calls",
            "latency ms (median)",
            "of which moto ms",
            "rest ms (client + HTTP)",
            "client CPU ms",
            "latency ratio",
            "rest ratio",
        ],
        rows,
    )


def run(server: BenchServer, events: int = 200) -> tuple[str, list[Latency]]:
    results = measure(server, events)
    return render(results), results


if __name__ == "__main__":
    with BenchServer() as bench_server:
        print(run(bench_server)[0])
