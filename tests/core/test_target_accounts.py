"""Target accounts through the service over in-memory ports (issue 22): each listed
account's parameter holds its own copy, converged like ours; an unlisted account gets
nothing; a denied or copy-less account is behind, says so, and never stops the others."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from amistate_adapters.memory import (
    MemoryImageCatalog,
    MemoryParameterStore,
    MemoryPresetCatalog,
    MemoryStateStore,
    MemoryTable,
)
from amistate_adapters.memory_accounts import MemoryAccounts
from attrs import evolve

from amistate.core.amis import Amis
from amistate.core.arns import parse_build_arn
from amistate.core.events import BuildEvent
from amistate.core.settings import Settings
from amistate.ports import Parameter, Preset
from amistate.usecases.batch import Batch
from amistate.usecases.converge import Converger
from amistate.usecases.service import AmiService
from tests.core.world import ACCOUNT, CONFIG, PARAMETER, PIPELINE, PRESET, REGION, T0, build_arn

TARGET, DENIED, UNLISTED = "444455556666", "777788889999", "999900001111"


def service(
    targets: tuple[str, ...], ami_parameter: str | None = None
) -> tuple[AmiService, MemoryAccounts, MemoryParameterStore]:
    table, accounts, ours = MemoryTable(), MemoryAccounts(), MemoryParameterStore(REGION)
    catalog = MemoryPresetCatalog(table)
    preset = Preset(PRESET, PIPELINE, CONFIG, target_accounts=targets, ami_parameter=ami_parameter)
    catalog.register(preset)
    states = MemoryStateStore(table)
    states.create_initial(PRESET, T0)
    settings = Settings(home_region=REGION, account=ACCOUNT)
    svc = AmiService(
        settings=settings,
        states=states,
        catalog=catalog,
        images=MemoryImageCatalog(),
        converger=Converger(settings, states, {REGION: ours}, accounts=accounts),
    )
    return svc, accounts, ours


def build(svc: AmiService, n: int, copies: dict[str, str], status: str = "AVAILABLE") -> BuildEvent:
    """Build ``n`` (its AMI ami-n, each copy ami-n-<account>) as Image Builder knows it."""
    ours = {REGION: f"ami-{n:017x}"}
    amis = Amis.of(ours, copies={a: {REGION: f"ami-{n:09x}{a[:8]}"} for a in copies})
    created = T0 + timedelta(minutes=n)
    svc.images.add(build_arn(n), PIPELINE, amis, created=created, status=status)  # type: ignore[attr-defined]
    return BuildEvent(parse_build_arn(build_arn(n)), status, created, created=created)


def value(store: MemoryParameterStore) -> dict[str, object] | None:
    found = store.get(PARAMETER)
    return None if found is None else json.loads(found.value)


def test_each_listed_account_gets_its_own_copy_and_no_other_account_anything() -> None:
    svc, accounts, ours = service((TARGET,))
    theirs = accounts.parameters(TARGET, REGION)
    theirs.parameters[PARAMETER] = Parameter(PARAMETER, json.dumps({"team": "ci", "amiId": "x"}))
    (outcome,) = svc.handle(build(svc, 1, {TARGET: "", UNLISTED: ""}))
    assert value(ours) == {**CONFIG, "amiId": "ami-00000000000000001"}
    assert value(theirs) == {**CONFIG, "team": "ci", "amiId": f"ami-000000001{TARGET[:8]}"}
    assert (UNLISTED, REGION) not in accounts.stores  # never even reached
    assert outcome.behind == ()
    before = (value(ours), value(theirs))
    svc.handle(build(svc, 2, {TARGET: ""}, status="FAILED"))
    assert (value(ours), value(theirs)) == before  # a failure changes no account


def test_a_denied_account_is_behind_and_the_others_are_written() -> None:
    svc, accounts, ours = service((DENIED, TARGET))
    accounts.denied.add(DENIED)
    (outcome,) = svc.handle(build(svc, 1, {DENIED: "", TARGET: ""}))
    assert value(ours) is not None and value(accounts.parameters(TARGET, REGION)) is not None
    (why,) = outcome.behind
    assert why.startswith(f"account {DENIED}: access denied through role ")
    assert f"arn:aws:iam::{DENIED}:role/amistate-target" in why
    accounts.denied.clear()  # the role is deployed: the next converge heals
    assert svc.sync(PRESET).behind == ()
    assert value(accounts.parameters(DENIED, REGION)) is not None


def test_a_build_without_a_copy_leaves_that_account_on_its_previous_ami() -> None:
    svc, accounts, _ = service((TARGET,))
    svc.handle(build(svc, 1, {TARGET: ""}))
    theirs = accounts.parameters(TARGET, REGION)
    first = value(theirs)
    (outcome,) = svc.handle(build(svc, 2, {}))
    assert value(theirs) == first
    assert outcome.behind == (f"{TARGET}: no copy in {REGION}, previous AMI kept",)


def test_a_pin_gives_each_account_the_pinned_builds_copy() -> None:
    svc, accounts, _ = service((TARGET,))
    svc.handle(build(svc, 1, {TARGET: ""}))
    svc.handle(build(svc, 2, {TARGET: ""}))
    from amistate.usecases.pins import Pins

    Pins(converger=svc.converger, states=svc.states).pin(PRESET, build_arn(1))
    assert value(accounts.parameters(TARGET, REGION)) == {
        **CONFIG,
        "amiId": f"ami-000000001{TARGET[:8]}",
    }


def test_the_plain_ami_parameter_holds_each_accounts_own_copy() -> None:
    """A launch template in a runner account resolves ``resolve:ssm:`` in that
    account: its plain AMI parameter must name that account's copy."""
    plain = "/runners/linux/ami"
    svc, accounts, ours = service((DENIED, TARGET), ami_parameter=plain)
    accounts.denied.add(DENIED)
    svc.handle(build(svc, 1, {DENIED: "", TARGET: ""}))
    theirs = accounts.parameters(TARGET, REGION).get(plain)
    assert theirs is not None and theirs.value == f"ami-000000001{TARGET[:8]}"
    assert theirs.data_type == "aws:ec2:image"
    mine = ours.get(plain)
    assert mine is not None and mine.value == "ami-00000000000000001"
    svc.handle(build(svc, 2, {}))  # no copy for the target: it keeps the previous one
    theirs = accounts.parameters(TARGET, REGION).get(plain)
    assert theirs is not None and theirs.value == f"ami-000000001{TARGET[:8]}"


def test_the_record_says_which_accounts_are_behind_written_only_when_that_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    svc, accounts, _ = service((DENIED, TARGET))
    writes: list[dict[str, str]] = []
    recorded = svc.states.set_behind

    def counted(preset: str, behind: Mapping[str, str]) -> None:
        writes.append(dict(behind))
        recorded(preset, behind)

    monkeypatch.setattr(svc.states, "set_behind", counted)
    accounts.denied.add(DENIED)
    svc.handle(build(svc, 1, {DENIED: "", TARGET: ""}))
    record = svc.states.get(PRESET)
    assert record is not None and set(record.behind) == {DENIED}
    assert record.behind[DENIED].startswith(f"account {DENIED}: access denied")
    svc.handle(build(svc, 2, {DENIED: "", TARGET: ""}))  # still denied: no write
    svc.handle(build(svc, 3, {DENIED: ""}))  # TARGET has no copy of 3: behind too
    record = svc.states.get(PRESET)
    assert record is not None and set(record.behind) == {DENIED, TARGET}
    assert record.behind[TARGET] == f"{TARGET}: no copy in {REGION}, previous AMI kept"
    accounts.denied.clear()
    svc.handle(build(svc, 4, {DENIED: "", TARGET: ""}))  # healed: cleared
    svc.sync(PRESET)
    record = svc.states.get(PRESET)
    assert record is not None and record.behind == {}
    assert [set(w) for w in writes] == [{DENIED}, {DENIED, TARGET}, set()]


def test_a_run_feeding_a_preset_trusts_the_accounts_of_the_record_it_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reconcile run names the presets it feeds and holds their records (a Batch): the
    copies are trusted by the accounts of those records, with no read of the mapping."""
    svc, accounts, ours = service((TARGET,))
    event = build(svc, 1, {TARGET: "", UNLISTED: ""})
    facts = svc.images.describe(event.build.arn)
    fed = evolve(event, origin="reconcile", amis=facts.amis, pipeline_arn=PIPELINE)
    mapping: list[str] = []

    def counted(name: str) -> Any:
        real = getattr(svc.catalog, name)

        def call(*args: Any) -> Any:
            mapping.append(name)
            return real(*args)

        return call

    for name in ("presets_for_pipeline", "target_accounts"):
        monkeypatch.setattr(svc.catalog, name, counted(name))
    record = svc.states.get(PRESET)
    assert record is not None
    batch = Batch(feeds={fed.build.arn: (PRESET,)}, records={PRESET: record})
    (outcome,) = svc.handle(fed, batch=batch)
    assert mapping == []
    assert value(ours) == {**CONFIG, "amiId": "ami-00000000000000001"}
    assert value(accounts.parameters(TARGET, REGION)) == {
        **CONFIG,
        "amiId": f"ami-000000001{TARGET[:8]}",
    }
    assert (UNLISTED, REGION) not in accounts.stores  # its copy is not trusted
    assert outcome.behind == ()
