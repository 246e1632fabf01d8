"""The ordering guarantees, as properties over interleaved concurrent executions.

Each test draws 1-4 events (duplicates, ties and out-of-order arrival
included), starts one execution per event, and lets hypothesis choose which
execution makes the next port call. An execution may be abandoned at any gate
(it dies right after its previous call succeeded) and is then redelivered, as
Lambda does. The properties hold at quiescence, whatever the interleaving.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from attrs import define
from hypothesis import example, given
from hypothesis import strategies as st

from amistate.core import rules
from amistate.core.events import BuildEvent
from tests.core.interleave import Gated, Scheduler
from tests.core.world import (
    CONFIG,
    PRESET,
    T0,
    World,
    event,
    expected_record,
    make_world,
)

MAX_ABANDONS = 3


@st.composite
def build_events(draw: st.DrawFn) -> BuildEvent:
    return event(
        build=draw(st.integers(1, 12)),
        status=draw(st.sampled_from(["AVAILABLE", "AVAILABLE", "FAILED", "CANCELLED", "TESTING"])),
        minute=draw(st.integers(0, 3)),  # few distinct times: ties are common
        origin=draw(st.sampled_from(["eventbridge", "sns"])),
        patch=draw(st.integers(0, 1)),
    )


def by_the_other_path(ev: BuildEvent) -> BuildEvent:
    """The same build's outcome as the other path (EventBridge or SNS) delivers it."""
    _, _, patch, build = ev.build.version
    other = "eventbridge" if ev.origin == "sns" else "sns"
    minute = int((ev.time - T0).total_seconds() // 60)
    return event(build, status=ev.status, minute=minute, origin=other, patch=patch)


@st.composite
def deliveries(draw: st.DrawFn) -> list[BuildEvent]:
    """1-4 deliveries of distinct builds (each with one outcome and one start, as Image
    Builder holds it), some of them delivered twice, by the same path or the other."""
    distinct = draw(
        st.lists(build_events(), min_size=1, max_size=4, unique_by=lambda e: e.build.arn)
    )
    again = draw(st.lists(st.sampled_from(distinct), max_size=4 - len(distinct)))
    extra = [draw(st.sampled_from([e, by_the_other_path(e)])) for e in again]
    return draw(st.permutations(distinct + extra))


schedules = st.lists(st.integers(0, 7), max_size=80)
abandon_steps = st.sets(st.integers(0, 40), max_size=MAX_ABANDONS)


@define
class Run:
    world: World
    scheduler: Scheduler
    events: list[BuildEvent]
    names: dict[str, BuildEvent]


def run(
    events: list[BuildEvent],
    schedule: list[int],
    abandons: set[int],
    with_parameter: bool = True,
) -> Run:
    """Handle every event concurrently, interleaved as ``schedule`` says; return at quiescence."""
    world = make_world(with_parameter)
    world.know(*events)
    scheduler = Scheduler()
    service = world.service(lambda name, port: Gated(scheduler, name, port))
    names: dict[str, BuildEvent] = {}

    def deliver(name: str, ev: BuildEvent) -> None:
        names[name] = ev
        scheduler.start(name, lambda: service.handle(ev))

    for i, ev in enumerate(events):
        deliver(f"e{i}", ev)
    choices = iter(schedule)
    step = 0
    while waiting := scheduler.waiting():
        chosen = waiting[next(choices, 0) % len(waiting)]
        abandon = step in abandons
        scheduler.step(chosen, abandon=abandon)
        if abandon:  # Lambda redelivers what did not complete
            deliver(chosen.name + "'", names[chosen.name])
        step += 1
    for execution in scheduler.executions:
        if execution.error is not None:
            raise execution.error
        assert execution.state in ("done", "abandoned"), execution
    return Run(world, scheduler, events, names)


CLASSIC = [event(1, minute=0), event(2, minute=1)]
# e0 (older) writes DynamoDB first; e1 (newer) then writes DynamoDB, SSM and
# confirms; only then does e0 write SSM: the older write lands last.
CLASSIC_SCHEDULE = [0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]


@given(deliveries(), schedules, abandon_steps)
@example(CLASSIC, CLASSIC_SCHEDULE, set())
def test_record_reflects_the_newest_event(
    events: list[BuildEvent], schedule: list[int], abandons: set[int]
) -> None:
    record = run(events, schedule, abandons).world.record()
    expected = expected_record(events)
    actual = {key: getattr(record, key) for key in expected}
    assert actual == expected


@given(deliveries(), schedules, abandon_steps)
def test_updated_at_never_decreases(
    events: list[BuildEvent], schedule: list[int], abandons: set[int]
) -> None:
    history = run(events, schedule, abandons).world.states.history
    times = [r.updated_at for r in history if r.updated_at is not None]
    assert times == sorted(times)
    keys = [r.order_key for r in history]
    assert keys == sorted(keys)


@given(deliveries(), schedules, abandon_steps, st.booleans())
@example(CLASSIC, CLASSIC_SCHEDULE, set(), True)
# the older execution crashes right after its late SSM write, before confirming
@example(CLASSIC, CLASSIC_SCHEDULE, {13}, True)
@example(CLASSIC, CLASSIC_SCHEDULE, {12}, False)
def test_ssm_equals_the_record_at_quiescence(
    events: list[BuildEvent], schedule: list[int], abandons: set[int], with_parameter: bool
) -> None:
    world = run(events, schedule, abandons, with_parameter).world
    record = world.record()
    value = world.parameter_value()
    if record.ami_id is None:  # no success yet: SSM is exactly as it was
        parameter = world.parameters.get("/spot-runner/configs/" + PRESET)
        assert (parameter and parameter.value) == world.initial_parameter
        assert world.parameters.writes == 0
    else:
        assert value is not None
        assert value["amiId"] == record.ami_id


@given(deliveries(), schedules, abandon_steps, st.booleans())
def test_ssm_keeps_every_other_key(
    events: list[BuildEvent], schedule: list[int], abandons: set[int], with_parameter: bool
) -> None:
    world = run(events, schedule, abandons, with_parameter).world
    value = world.parameter_value()
    if value is None:
        assert not with_parameter
        return
    others = {k: v for k, v in value.items() if k != "amiId"}
    assert others == dict(CONFIG)
    assert json.dumps(others) == json.dumps(dict(CONFIG))  # types and order kept


@given(deliveries(), schedules, abandon_steps)
def test_failed_events_never_touch_ssm(
    events: list[BuildEvent], schedule: list[int], abandons: set[int]
) -> None:
    result = run(events, schedule, abandons)
    for call in result.scheduler.calls:
        ev = result.names[call.execution]
        if rules.classify(ev.status) != "ready":
            assert not call.port.startswith("parameters"), call


@given(st.lists(st.sampled_from(["FAILED", "CANCELLED"]), min_size=1, max_size=4), schedules)
def test_only_failures_leave_ssm_byte_for_byte_unchanged(
    statuses: list[str], schedule: list[int]
) -> None:
    events = [event(i + 1, status=s, minute=i) for i, s in enumerate(statuses)]
    world = run(events, schedule, set()).world
    assert world.parameters.writes == 0
    parameter = world.parameters.get("/spot-runner/configs/" + PRESET)
    assert parameter is not None and parameter.value == world.initial_parameter
    assert world.record().status == "failed"


def _all_interleavings(events: list[BuildEvent]) -> list[tuple[list[int], World]]:
    """Every schedule of the executions, each run to quiescence once.

    Depth-first over choices: a replay follows its prefix, then takes the first
    waiting execution at every later step down to quiescence, noting each step's
    other choices; each of those is the prefix of one more replay. So every
    schedule is replayed exactly once, and its world is the one checked.
    """
    found: list[tuple[list[int], World]] = []

    def explore(prefix: list[int]) -> None:
        world = make_world()
        world.know(*events)
        scheduler = Scheduler()
        service = world.service(lambda name, port: Gated(scheduler, name, port))
        for i, ev in enumerate(events):
            scheduler.start(f"e{i}", functools.partial(service.handle, ev))
        for choice in prefix:
            scheduler.step(scheduler.waiting()[choice])
        path, branches = list(prefix), []
        while waiting := scheduler.waiting():
            branches += [[*path, choice] for choice in range(1, len(waiting))]
            path.append(0)
            scheduler.step(waiting[0])
        for execution in scheduler.executions:
            if execution.error is not None:
                raise execution.error
            assert execution.state == "done", (path, execution)
        found.append((path, world))
        for branch in branches:
            explore(branch)

    explore([])
    return found


def test_every_interleaving_of_two_successes_converges() -> None:
    events = [event(1, minute=0), event(2, minute=1)]
    runs = _all_interleavings(events)
    assert len(runs) >= 924  # C(12, 6): six port calls each, at least
    assert len({tuple(schedule) for schedule, _ in runs}) == len(runs)
    for schedule, world in runs:
        record = world.record()
        value: dict[str, Any] | None = world.parameter_value()
        assert record.ami_id == expected_record(events)["ami_id"], schedule
        assert value is not None and value["amiId"] == record.ami_id, schedule
