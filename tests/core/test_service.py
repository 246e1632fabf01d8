"""The service through in-memory ports: what each kind of event does, and costs."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from attrs import evolve
from hypothesis import given
from hypothesis import strategies as st

from amistate.core.parsing import parse_event
from amistate.core.settings import Settings
from amistate.errors import InvalidConfig, MalformedEvent, NoAmiForRegion
from amistate.ports import Parameter
from amistate.usecases.converge import Converger
from amistate.usecases.service import AmiService
from tests.core.interleave import Gated, Scheduler
from tests.core.samples import sample
from tests.core.world import (
    CONFIG,
    PARAMETER,
    PREVIOUS_AMI,
    REGION,
    T0,
    World,
    ami_for,
    event,
    make_world,
)


class Counting:
    """Counts port calls by name (no gating: the scheduler is never started)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def wrap(self, name: str, port: object) -> Any:
        calls = self.calls

        class Proxy:
            def __getattr__(self, attribute: str) -> Any:
                value = getattr(port, attribute)
                if not callable(value):
                    return value

                def counted(*args: Any, **kwargs: Any) -> Any:
                    calls.append(f"{name}.{attribute}")
                    return value(*args, **kwargs)

                return counted

        return Proxy()


def handle(world: World, ev: Any, *, known: bool = True) -> tuple[Any, list[str]]:
    """Handle ``ev`` counting port calls; ``known``: Image Builder confirms it."""
    if known:
        world.know(ev)
    counter = Counting()
    (outcome,) = world.service(counter.wrap).handle(ev)
    return outcome, counter.calls


def test_success_via_eventbridge_costs_six_port_calls_and_one_ssm_write() -> None:
    world = make_world()
    outcome, calls = handle(world, event(1))
    assert outcome.decision == "applied"
    assert calls == [
        "images.describe",
        "catalog.presets_for_pipeline",
        "states.apply",
        f"parameters[{REGION}].get",
        f"parameters[{REGION}].put",
        "states.current",  # the confirm: the record without its history
    ]
    assert world.parameters.writes == 1
    assert world.record().status == "ready"


def test_success_via_sns_costs_what_eventbridge_costs_getimage_included() -> None:
    """The notification's claims are checked with one GetImage (issue 20)."""
    _, calls = handle(make_world(), event(1, origin="sns"))
    assert calls[0] == "images.describe"
    assert len(calls) == 6


def test_a_notification_image_builder_contradicts_is_rejected_after_one_call() -> None:
    world = make_world()
    world.know(event(1, origin="sns"))
    forged = evolve(event(1, origin="sns"), created=event(1, minute=99).created)
    outcome, calls = handle(world, forged, known=False)
    assert (outcome.decision, calls) == ("rejected", ["images.describe"])
    assert outcome.note is not None and outcome.note.startswith("dateCreated:")
    assert world.record().status == "building"
    assert world.parameters.writes == 0


def test_a_build_image_builder_does_not_know_is_rejected() -> None:
    world = make_world()
    unknown = event(1, origin="sns")
    world.images.images.pop(unknown.build.arn)
    outcome, calls = handle(world, unknown, known=False)
    assert (outcome.decision, calls) == ("rejected", ["images.describe"])
    assert world.record().status == "building"


def test_failure_costs_three_calls_and_never_calls_ssm() -> None:
    world = make_world()
    outcome, calls = handle(world, event(1, status="FAILED"))
    assert outcome.decision == "applied"
    assert calls == ["images.describe", "catalog.presets_for_pipeline", "states.apply"]
    assert world.record().status == "failed"
    assert world.record().reason == "boom"


def test_non_terminal_status_costs_nothing() -> None:
    outcome, calls = handle(make_world(), event(1, status="BUILDING"))
    assert outcome.decision == "ignored"
    assert calls == []


def test_duplicate_success_rechecks_ssm_without_writing() -> None:
    world = make_world()
    handle(world, event(1))
    outcome, calls = handle(world, event(1))
    assert outcome.decision == "duplicate"
    assert f"parameters[{REGION}].put" not in calls
    assert world.parameters.writes == 1


def test_stale_success_writes_nothing_when_ssm_is_in_sync() -> None:
    world = make_world()
    handle(world, event(2, minute=2))
    outcome, calls = handle(world, event(1, minute=1))
    assert outcome.decision == "stale"
    assert "states.apply" in calls and f"parameters[{REGION}].put" not in calls
    assert world.record().ami_id == ami_for(2)


def test_unmanaged_pipeline_is_ignored_after_two_calls() -> None:
    world = make_world()
    other = "arn:aws:imagebuilder:us-west-2:111122223333:image-pipeline/someone-else"
    world.images.add(event(1).build.arn, other, {REGION: ami_for(1)}, created=T0)
    outcome, calls = handle(world, event(1), known=False)
    assert outcome.decision == "ignored"
    assert calls == ["images.describe", "catalog.presets_for_pipeline"]


def test_events_of_another_account_or_region_are_ignored_without_calls() -> None:
    world = make_world()
    foreign = evolve(event(1), build=evolve(event(1).build, account="999999999999"))
    outcome, calls = handle(world, foreign)
    assert (outcome.decision, calls) == ("ignored", [])
    elsewhere = evolve(event(1), build=evolve(event(1).build, region="eu-west-1"))
    outcome, calls = handle(world, elsewhere)
    assert (outcome.decision, calls) == ("ignored", [])


def test_build_without_an_ami_in_our_region_writes_nothing() -> None:
    world = make_world()
    world.images.add(
        event(1).build.arn, world.record().pipeline_arn or "", {"eu-west-1": "ami-1"}, created=T0
    )
    with pytest.raises(NoAmiForRegion, match=REGION):
        handle(world, event(1), known=False)
    assert world.record().status == "building"
    assert world.parameters.writes == 0


def test_extra_regions_get_their_own_ami() -> None:
    from amistate_adapters.memory import MemoryParameterStore

    world = make_world()
    world.settings = Settings(
        home_region=REGION, account="111122223333", extra_regions=("eu-west-1",)
    )
    world.images.add(
        event(1).build.arn,
        world.record().pipeline_arn or "",
        {REGION: "ami-0000000000000000a", "eu-west-1": "ami-0000000000000000b"},
        created=T0,
    )
    eu = MemoryParameterStore("eu-west-1")
    service = AmiService(
        settings=world.settings,
        states=world.states,
        catalog=world.catalog,
        images=world.images,
        converger=Converger(
            world.settings, world.states, {REGION: world.parameters, "eu-west-1": eu}
        ),
    )
    service.handle(event(1))
    assert json.loads(world.parameters.parameters[PARAMETER].value)["amiId"] == (
        "ami-0000000000000000a"
    )
    assert json.loads(eu.parameters[PARAMETER].value) == {
        **CONFIG,
        "amiId": "ami-0000000000000000b",
    }


def test_ssm_value_that_is_not_an_object_is_refused_not_overwritten() -> None:
    world = make_world()
    world.parameters.parameters[PARAMETER] = Parameter(PARAMETER, "[1, 2, 3]")
    with pytest.raises(InvalidConfig):
        handle(world, event(1))
    assert world.parameters.parameters[PARAMETER].value == "[1, 2, 3]"


def test_secure_string_stays_secure_with_its_key() -> None:
    world = make_world()
    world.parameters.parameters[PARAMETER] = Parameter(
        PARAMETER, json.dumps({**CONFIG, "amiId": PREVIOUS_AMI}), "SecureString", "alias/runners"
    )
    handle(world, event(1))
    stored = world.parameters.parameters[PARAMETER]
    assert (stored.type, stored.key_id) == ("SecureString", "alias/runners")
    assert json.loads(stored.value)["amiId"] == ami_for(1)


def _snapshot(world: World) -> tuple[object, object, int]:
    return world.record(), world.parameters.get(PARAMETER), world.parameters.writes


def _corrupt(value: Any, path: list[int], replacement: Any) -> Any:
    if not path or not isinstance(value, (dict, list)) or not value:
        return replacement
    keys = list(range(len(value))) if isinstance(value, list) else sorted(value)
    key = keys[path[0] % len(keys)]
    out = copy.copy(value)
    out[key] = _corrupt(value[key], path[1:], replacement)
    return out


@given(
    st.sampled_from(
        ["eventbridge-image-state-change-available.json", "sns-image-notification-available.json"]
    ),
    st.lists(st.integers(0, 40), min_size=1, max_size=5),
    st.none()
    | st.integers()
    | st.text(max_size=30)
    | st.lists(st.integers(), max_size=2)
    | st.booleans()
    | st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
def test_malformed_events_change_nothing(name: str, path: list[int], replacement: Any) -> None:
    world = make_world()
    world.images.add(
        "arn:aws:imagebuilder:us-west-2:111122223333:image/spot-runner-linux-x64/1.0.0/3",
        world.record().pipeline_arn or "",
        {REGION: "ami-0a1b2c3d4e5f60718"},
        created=T0.replace(minute=21, second=3),  # the samples' dateCreated
    )
    before = _snapshot(world)
    raw = _corrupt(sample(name), path, replacement)
    try:
        ev = parse_event(raw)
    except MalformedEvent:
        assert _snapshot(world) == before
        return
    world.service().handle(ev)  # still well-formed: it may legitimately apply


def test_scheduler_is_not_needed_for_plain_calls() -> None:
    world = make_world()
    world.know(event(1))
    scheduler = Scheduler()
    (outcome,) = world.service(lambda n, p: Gated(scheduler, n, p)).handle(event(1))
    assert outcome.decision == "applied"
