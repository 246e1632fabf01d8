"""Deliverable 1: AWS calls per cold invocation, by kind of event, amistate vs baseline.

Every call is counted at the HTTP level by the loopback server (bench/server.py).
Each scenario gets its own preset; its set-up events run first (not counted),
then the runtime is reset (a cold invocation: no cached pipeline mapping) and
the measured event runs. The same events then go through the baseline. The
"warm" column repeats the scenario on another preset with the runtime kept
and the preset's pipeline mapping already cached (as after any earlier event
of that pipeline in the same container).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, cast

from attrs import frozen

from bench.common import REGION, at, build_arn, eventbridge_event, pipeline_arn, sns_event, table
from bench.server import BenchServer, ami_of_build
from bench.world import World, environment, preset_build, preset_name

Event = dict[str, Any]


@frozen
class Budget:
    calls: int
    ssm_writes: int | None = None  # exact number of SSM writes required (None: any)
    ssm_calls: int | None = None  # at most this many SSM calls of any kind
    no_write: bool = False  # nothing stored may change (a rejected conditional write is no write)

    def holds(self, calls: Sequence[str], changed: bool) -> bool:
        ssm = [c for c in calls if c.startswith("ssm:")]
        if len(calls) > self.calls:
            return False
        if self.ssm_writes is not None and _ssm_writes(calls) != self.ssm_writes:
            return False
        if self.ssm_calls is not None and len(ssm) > self.ssm_calls:
            return False
        return not (self.no_write and (changed or any(map(_is_put, calls))))

    def text(self) -> str:
        parts = [f"≤ {self.calls}"]
        if self.ssm_writes is not None:
            parts.append(f"exactly {self.ssm_writes} SSM write")
        if self.ssm_calls == 0:
            parts.append("no SSM call")
        if self.no_write:
            parts.append("no write")
        return ", ".join(parts)


def _is_put(call: str) -> bool:
    """An unconditional write (an UpdateItem is judged by its effect instead)."""
    return call.split(":")[1] in {"PutItem", "DeleteItem", "PutParameter"}


def _ssm_writes(calls: Sequence[str]) -> int:
    return sum(call == "ssm:PutParameter" for call in calls)


def eb(index: int, build: int, status: str = "AVAILABLE", minute: int = 0) -> Event:
    return eventbridge_event(preset_build(index, build), status, at(60 * (minute or build)))


def sns(index: int, build: int, status: str = "AVAILABLE", minute: int = 0) -> Event:
    arn = preset_build(index, build)
    amis = {r: ami_of_build(arn, r) for r in (REGION, "eu-west-1")} if status == "AVAILABLE" else {}
    pipeline = pipeline_arn(preset_name(index))
    return sns_event(arn, status, at(60 * (minute or build)), pipeline, amis)


@frozen
class Scenario:
    name: str
    setup: Callable[[int], list[Event]]
    event: Callable[[int], Event]
    budget: Budget | None
    note: str = ""


def _unmanaged(_: int) -> Event:
    arn = build_arn("someone-elses-recipe", 1)
    return eventbridge_event(arn, "AVAILABLE", at(60))


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "success via EventBridge (GetImage needed)",
        lambda i: [],
        lambda i: eb(i, 1),
        Budget(6, ssm_writes=1),
    ),
    # Issue 20: the notification's claims are checked with one GetImage, as EventBridge's.
    Scenario("success via SNS", lambda i: [], lambda i: sns(i, 1), Budget(6, ssm_writes=1)),
    Scenario(
        "failure via EventBridge",
        lambda i: [eb(i, 1)],
        lambda i: eb(i, 2, "FAILED"),
        Budget(3, ssm_calls=0),
    ),
    Scenario(
        "failure via SNS",
        lambda i: [sns(i, 1)],
        lambda i: sns(i, 2, "FAILED"),
        Budget(3, ssm_calls=0),
        "extra row",
    ),
    Scenario(
        "stale success via EventBridge (older than the record)",
        lambda i: [eb(i, 2)],
        lambda i: eb(i, 1),
        # Issue 16: its SSM read heals late writes (docs/performance.md, finding 1).
        Budget(4, no_write=True),
        "see below",
    ),
    Scenario(
        "stale success via SNS",
        lambda i: [sns(i, 2)],
        lambda i: sns(i, 1),
        Budget(4, no_write=True),  # GetImage (issue 20) and the healing SSM read, as EventBridge
        "extra row",
    ),
    Scenario(
        "stale failure via EventBridge",
        lambda i: [eb(i, 2)],
        lambda i: eb(i, 1, "FAILED"),
        Budget(4, no_write=True),
        "extra row",
    ),
    Scenario(
        "duplicate redelivery (EventBridge success)",
        lambda i: [eb(i, 1)],
        lambda i: eb(i, 1),
        Budget(4, no_write=True),
    ),
    Scenario(
        "non-terminal status (BUILDING)",
        lambda i: [],
        lambda i: eb(i, 1, "BUILDING"),
        Budget(0, no_write=True),
    ),
    Scenario(
        "unmanaged pipeline",
        lambda i: [],
        _unmanaged,
        Budget(2, no_write=True),
    ),
)


@frozen
class Row:
    scenario: Scenario
    cold: list[str]
    warm: list[str]
    baseline: list[str]
    decision: str
    logged_calls: int | None
    changed: bool  # did the measured amistate event change the record or the parameter?

    @property
    def holds(self) -> bool | None:
        budget = self.scenario.budget
        return None if budget is None else budget.holds(self.cold, self.changed)


def measure(server: BenchServer) -> list[Row]:
    """Run every scenario on a fresh table; return the counted calls."""
    from amistate.shims import runtime

    rows: list[Row] = []
    with environment({**server.env(), "AMISTATE_TABLE": "amistate-calls"}):
        world = World("amistate-calls", "baseline-calls")
        try:
            world.create_tables()
            for n, scenario in enumerate(SCENARIOS):
                cold_preset, warm_preset = 2 * n + 1, 2 * n + 2
                server.outcomes(
                    [e for i in (cold_preset, warm_preset) for e in scenario.setup(i)]
                    + [scenario.event(cold_preset), scenario.event(warm_preset)]
                )
                for index in (cold_preset, warm_preset):
                    world.add_preset(index)
                    for event in scenario.setup(index):
                        world.amistate(event)
                        world.baseline.handle(event)
                before = _snapshot(world, cold_preset)
                server.calls()
                line = world.amistate(scenario.event(cold_preset), cold=True)
                cold = server.calls()
                changed = _snapshot(world, cold_preset) != before
                server.calls()
                world.baseline.handle(scenario.event(cold_preset))
                baseline = server.calls()
                catalog = runtime.get(None).service.catalog
                catalog.presets_for_pipeline(pipeline_arn(preset_name(warm_preset)))
                server.calls()
                world.amistate(scenario.event(warm_preset))
                warm = server.calls()
                logged = line.get("awsCalls")
                rows.append(
                    Row(
                        scenario,
                        cold,
                        warm,
                        baseline,
                        str(line.get("decision", "?")),
                        logged if isinstance(logged, int) else None,
                        changed,
                    )
                )
        finally:
            world.close()
    return rows


def _snapshot(world: World, index: int) -> tuple[object, object]:
    return world.record(index), world.parameter(index)


def _short(calls: Sequence[str]) -> str:
    if not calls:
        return "—"
    return ", ".join(call.split(":")[1] for call in calls)


def _ssm(calls: Sequence[str]) -> str:
    counts = Counter(call for call in calls if call.startswith("ssm:"))
    reads = counts["ssm:GetParameter"] + counts["ssm:DescribeParameters"]
    return f"{reads} / {counts['ssm:PutParameter']}"


def render(rows: Sequence[Row]) -> str:
    summary = table(
        [
            "event",
            "amistate decision",
            "amistate calls (cold)",
            "SSM reads / writes",
            "budget",
            "holds",
            "amistate calls (warm)",
            "baseline calls",
            "baseline SSM reads / writes",
        ],
        [
            (
                row.scenario.name,
                row.decision,
                len(row.cold),
                _ssm(row.cold),
                row.scenario.budget.text() if row.scenario.budget else "—",
                {True: "yes", False: "**no**", None: "—"}[row.holds],
                len(row.warm),
                len(row.baseline),
                _ssm(row.baseline),
            )
            for row in rows
        ],
    )
    detail = table(
        ["event", "amistate (cold), in order", "baseline, in order"],
        [(row.scenario.name, _short(row.cold), _short(row.baseline)) for row in rows],
    )
    return summary + "\n\n" + detail


def check(rows: Sequence[Row]) -> list[str]:
    """Inconsistencies that mean the measurement itself is wrong."""
    problems = []
    for row in rows:
        if row.logged_calls is not None and row.logged_calls != len(row.cold):
            problems.append(
                f"{row.scenario.name}: the handler logged awsCalls={row.logged_calls}, "
                f"the server saw {len(row.cold)}"
            )
    return problems


def run(server: BenchServer, proposals: bool = False) -> tuple[str, list[Row]]:
    rows = measure(server)
    problems = check(rows)
    text = render(rows)
    if proposals:
        text += "\n\n" + render_proposed(rows, *run_proposed())
    if problems:
        text += "\n\n" + "\n".join(f"- measurement problem: {p}" for p in problems)
    return text, rows


def run_proposed() -> tuple[dict[str, list[str]] | None, str]:
    """The cold call sequences on the tree with bench/proposals applied (a child interpreter)."""
    from bench import proposed

    found, note = proposed.run_json("bench.calls")
    return cast("dict[str, list[str]] | None", found), note


def render_proposed(rows: Sequence[Row], found: dict[str, list[str]] | None, note: str) -> str:
    if found is None:
        return f"With bench/proposals: {note}."
    lines = []
    for row in rows:
        calls = found.get(row.scenario.name, [])
        budget = row.scenario.budget
        holds = budget.holds(calls, False) if budget else None
        lines.append(
            (
                row.scenario.name,
                len(row.cold),
                len(calls),
                _short(calls),
                {True: "yes", False: "**no**", None: "—"}[holds],
            )
        )
    title = f"With bench/proposals ({note}), cold (no write judged by the kinds of call):"
    headers = ["event", "calls now", "calls with proposals", "in order", "budget holds"]
    return title + "\n\n" + table(headers, lines)


def main() -> None:
    import json
    import sys

    with BenchServer() as bench_server:
        if sys.argv[1:] == ["--json"]:
            rows = measure(bench_server)
            print(json.dumps({row.scenario.name: row.cold for row in rows}))
        else:
            print(run(bench_server)[0])


if __name__ == "__main__":
    main()
