"""Rollouts through the service over in-memory ports: candidates, promotion,
rejection, soak with an injected clock, pins over all, and the parameter's keys."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from amistate.core.rollout import format_duration, parse_duration, parse_rollout
from amistate.core.state import Rollout
from amistate.errors import InvalidProperties, NoCandidate, RejectRefused
from amistate.ports import Preset
from amistate.usecases.pins import Pins
from amistate.usecases.promotions import Promotions
from amistate.usecases.service import AmiService
from tests.core.world import (
    CONFIG,
    PIPELINE,
    PRESET,
    T0,
    World,
    ami_for,
    build_arn,
    event,
    make_world,
)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _setup(rollout: Rollout) -> tuple[World, AmiService, Clock]:
    world = make_world()
    world.catalog.register(Preset(PRESET, PIPELINE, CONFIG, (), rollout=rollout))
    clock = Clock(T0)
    return world, world.service(clock=clock), clock


def _value(world: World) -> dict[str, Any]:
    value = world.parameter_value()
    assert value is not None
    return value


def _deliver(world: World, service: AmiService, build: int) -> None:
    ev = event(build, minute=build)
    world.know(ev)
    service.handle(ev)


def test_manual_candidate_waits_until_promoted() -> None:
    world, service, _ = _setup(Rollout("manual"))
    _deliver(world, service, 1)  # the first good build goes live at once
    assert _value(world)["amiId"] == ami_for(1)
    assert "candidateAmiId" not in _value(world)
    _deliver(world, service, 2)
    value = _value(world)
    assert (value["amiId"], value["candidateAmiId"]) == (ami_for(1), ami_for(2))
    runner = world.record().runner_ami("us-west-2")
    assert runner is not None and runner.candidate_ami_id == ami_for(2)
    _deliver(world, service, 2)  # redelivered: still the candidate
    assert world.record().ami_id == ami_for(1)
    change = Promotions(service.converger, world.states).promote(PRESET)
    assert change.action == "promoted" and change.ami_id == ami_for(2)
    assert _value(world) == {**CONFIG, "amiId": ami_for(2)}
    with pytest.raises(NoCandidate):
        Promotions(service.converger, world.states).promote(PRESET)


def test_rejected_candidate_never_comes_back() -> None:
    world, service, _ = _setup(Rollout("manual"))
    _deliver(world, service, 1)
    _deliver(world, service, 2)
    change = Promotions(service.converger, world.states).reject(PRESET, reason="agent broken")
    assert change.action == "rejected" and change.build_id == build_arn(2)
    assert _value(world) == {**CONFIG, "amiId": ami_for(1)}
    _deliver(world, service, 2)
    service.sync(PRESET)
    record = world.record()
    assert record.candidate is None and record.ami_id == ami_for(1)
    rejection = record.builds()[0].rejection
    assert rejection is not None and rejection.reason == "agent broken"
    with pytest.raises(Exception, match="neither the AMI nor the build ARN of a good build"):
        Pins(service.converger, world.states).pin(PRESET, ami_for(2))
    _deliver(world, service, 3)  # a newer good build still becomes the candidate
    assert _value(world)["candidateAmiId"] == ami_for(3)


def test_reject_live_falls_back_and_rollback_skips_rejected() -> None:
    world, service, _ = _setup(Rollout())
    for build in (1, 2, 3):
        _deliver(world, service, build)
    promotions = Promotions(service.converger, world.states)
    with pytest.raises(NoCandidate):
        promotions.reject(PRESET)
    change = promotions.reject(PRESET, ami_for(3))
    assert change.fell_back_to == build_arn(2) and _value(world)["amiId"] == ami_for(2)
    assert promotions.reject(PRESET, build_arn(3)).action == "unchanged"
    promotions.reject(PRESET, ami_for(1))  # not live: only marked
    with pytest.raises(RejectRefused, match="no older good build"):
        promotions.reject(PRESET, ami_for(2))
    with pytest.raises(Exception, match="no good build older"):
        Pins(service.converger, world.states).rollback(PRESET)
    _deliver(world, service, 3)
    assert world.record().ami_id == ami_for(2)


def test_soak_promotes_once_the_build_is_old_enough() -> None:
    world, service, clock = _setup(Rollout("soak", timedelta(hours=6)))
    _deliver(world, service, 1)
    _deliver(world, service, 2)  # completed at T0 + 2 min
    clock.now = T0 + timedelta(hours=6, minutes=1, seconds=59)
    service.sync(PRESET)
    assert world.record().ami_id == ami_for(1)  # younger than six hours: waits
    clock.now = T0 + timedelta(hours=6, minutes=2)
    done = service.sync(PRESET)
    assert done.promoted == build_arn(2) and _value(world)["amiId"] == ami_for(2)


def test_pin_holds_over_candidate_and_promotion() -> None:
    world, service, _ = _setup(Rollout("manual"))
    _deliver(world, service, 1)
    Pins(service.converger, world.states).pin(PRESET, ami_for(1))
    _deliver(world, service, 2)
    assert _value(world) == {**CONFIG, "amiId": ami_for(1)}  # no candidate shown
    Promotions(service.converger, world.states).promote(PRESET)
    assert _value(world)["amiId"] == ami_for(1)
    with pytest.raises(RejectRefused, match="pinned"):
        Promotions(service.converger, world.states).reject(PRESET, ami_for(1))
    Pins(service.converger, world.states).unpin(PRESET)
    assert _value(world)["amiId"] == ami_for(2)


def test_policy_back_to_immediate_promotes_at_the_next_write() -> None:
    world, service, _ = _setup(Rollout("manual"))
    _deliver(world, service, 1)
    _deliver(world, service, 2)
    world.catalog.register(Preset(PRESET, PIPELINE, CONFIG))
    done = service.sync(PRESET)
    assert done.promoted == build_arn(2) and world.record().candidate is None


@pytest.mark.parametrize(
    ("text", "hours"), [("PT6H", 6), ("P1DT12H", 36), ("P2W", 336), ("PT90M", 1.5)]
)
def test_soak_time_parses_iso_durations(text: str, hours: float) -> None:
    parsed = parse_duration(text, "SoakTime")
    assert parsed == timedelta(hours=hours)
    assert parse_duration(format_duration(parsed), "SoakTime") == parsed


@pytest.mark.parametrize("text", ["6h", "PT", "P", "P1M", "P1Y", "PT1.5H", "PT0S", "pt6h", 6])
def test_soak_time_refuses_anything_else(text: object) -> None:
    with pytest.raises(InvalidProperties, match=r"^SoakTime: "):
        parse_duration(text, "SoakTime")


def test_rollout_policy_errors_name_the_field() -> None:
    with pytest.raises(InvalidProperties, match=r"^RolloutPolicy: expected one of"):
        parse_rollout("canary", None, "RolloutPolicy", "SoakTime")
    with pytest.raises(InvalidProperties, match=r"^SoakTime: required"):
        parse_rollout("soak", None, "RolloutPolicy", "SoakTime")
    with pytest.raises(InvalidProperties, match=r"^SoakTime: only with"):
        parse_rollout("manual", "PT1H", "RolloutPolicy", "SoakTime")
    assert parse_rollout(None, None, "RolloutPolicy", "SoakTime") == Rollout()
