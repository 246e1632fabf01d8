"""A reconcile run reads and repairs every target account (issue 22, point 4), over the
in-memory ports: one account denied or failing never stops the others."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from amistate_adapters.memory import MemoryParameterStore, memory_ports
from amistate_adapters.memory_accounts import MemoryAccounts
from amistate_adapters.memory_inventory import (
    MemoryImage,
    MemoryMachineImages,
    MemoryPipelineImages,
)
from attrs import define, evolve

from amistate.core.amis import Amis
from amistate.core.settings import Settings
from amistate.core.state import Rollout
from amistate.ports.inventory import Inventory
from amistate.usecases.deploy import PresetProperties
from amistate.usecases.reconcile.plan import Converge, Unreachable
from amistate.wiring.compose import Runtime, from_ports
from tests.core.world import (
    ACCOUNT,
    CONFIG,
    PARAMETER,
    PIPELINE,
    PRESET,
    REGION,
    T0,
    ami_for,
    build_arn,
)

TARGET, DENIED, SLOW = "444455556666", "777788889999", "555566667777"


def copy(n: int, account: str) -> str:
    return f"ami-{n:09x}{account[:8]}"


class Throttled(Exception):
    """A transient error (as botocore raises after its retries)."""


class FlakyAccounts(MemoryAccounts):
    """SLOW's parameter reads fail for a transient reason while ``flaky`` is set."""

    flaky = True

    def parameters(self, account: str, region: str) -> MemoryParameterStore:
        store = super().parameters(account, region)
        if account == SLOW and self.flaky:
            raise Throttled("Rate exceeded")
        return store


@define
class Run:
    rt: Runtime
    accounts: MemoryAccounts
    pipelines: MemoryPipelineImages
    machines: MemoryMachineImages

    def build(self, n: int, accounts: tuple[str, ...]) -> None:
        """Build ``n`` (its event lost), copied to ``accounts``; every AMI exists."""
        copies = {a: {REGION: copy(n, a)} for a in accounts}
        amis = Amis.of({REGION: ami_for(n)}, copies=copies)
        created = T0 + timedelta(hours=n)
        self.pipelines.add(PIPELINE, build_arn(n), "AVAILABLE", created, amis)
        self.machines.images[ami_for(n)] = MemoryImage(owner=ACCOUNT)
        for account in accounts:
            there = self.accounts.images.setdefault(
                (account, REGION), MemoryMachineImages(REGION, account)
            )
            there.images[copy(n, account)] = MemoryImage(owner=account)

    def theirs(self, account: str) -> Any:
        found = self.accounts.stores[(account, REGION)].get(PARAMETER)
        return None if found is None else json.loads(found.value)["amiId"]


def behind(run: Run) -> Mapping[str, str]:
    record = run.rt.service.require(PRESET)
    return record.behind


def start(
    targets: tuple[str, ...], plain: str | None = None, rollout: Rollout | None = None
) -> Run:
    accounts = FlakyAccounts()
    ports = evolve(memory_ports((REGION,)), accounts=accounts)
    pipelines = MemoryPipelineImages()
    pipelines.add_pipeline(PIPELINE)
    machines = MemoryMachineImages(REGION, ACCOUNT)
    settings = Settings(home_region=REGION, account=ACCOUNT, table="t")
    inventory = Inventory(pipelines=pipelines, machines={REGION: machines})
    rt = from_ports(settings, ports, inventory=inventory)
    props = PresetProperties(
        PRESET, PIPELINE, CONFIG, False, plain, rollout or Rollout(), target_accounts=targets
    )
    rt.deployer.create(props, token="t")
    return Run(rt, accounts, pipelines, machines)


def test_a_lost_build_and_drift_in_one_account_are_repaired_there() -> None:
    run = start((TARGET,))
    run.build(1, (TARGET,))
    first = run.rt.reconciler.run()
    assert first.failed == {}
    assert run.theirs(TARGET) == copy(1, TARGET)
    theirs = run.accounts.stores[(TARGET, REGION)]
    theirs.put(PARAMETER, json.dumps({**CONFIG, "amiId": "ami-0000000000000dead"}), like=None)
    drifted = run.rt.reconciler.run()
    assert drifted.plan.changes == (Converge(PRESET, (REGION,), ("amiId",), TARGET),)
    assert drifted.done == drifted.plan.changes
    assert run.theirs(TARGET) == copy(1, TARGET)
    assert run.rt.reconciler.run().plan.changes == ()


def test_a_denied_account_is_reported_and_the_others_are_reconciled() -> None:
    run = start((DENIED, TARGET))
    run.accounts.denied.add(DENIED)
    run.build(1, (DENIED, TARGET))
    report = run.rt.reconciler.run()
    (unreachable,) = report.plan.unreachable
    assert unreachable.account == DENIED and "access denied" in unreachable.why
    assert isinstance(unreachable, Unreachable)
    assert report.failed == {} and not report.converged
    assert run.theirs(TARGET) == copy(1, TARGET)
    assert (DENIED, REGION) not in run.accounts.stores  # never written
    assert set(behind(run)) == {DENIED}
    run.accounts.denied.clear()  # the role is deployed: the next run heals it
    assert run.rt.reconciler.run().failed == {}
    assert run.theirs(DENIED) == copy(1, DENIED)
    assert behind(run) == {}


def test_a_transient_error_in_one_account_fails_the_run_after_the_others() -> None:
    run = start((SLOW, TARGET))
    run.build(1, (SLOW, TARGET))
    report = run.rt.reconciler.run()
    assert run.theirs(TARGET) == copy(1, TARGET)
    assert set(report.failed) == {f"account {SLOW}", PRESET}  # its read, then its write
    assert "Throttled: Rate exceeded" in report.failed[f"account {SLOW}"]
    run.accounts.flaky = False  # type: ignore[attr-defined]
    assert run.rt.reconciler.run().failed == {}
    assert run.theirs(SLOW) == copy(1, SLOW)


def test_a_target_accounts_plain_ami_parameter_that_drifted_is_repaired() -> None:
    plain = "/runners/linux/ami"
    run = start((TARGET,), plain)
    run.build(1, (TARGET,))
    assert run.rt.reconciler.run().failed == {}
    theirs = run.accounts.stores[(TARGET, REGION)]
    theirs.put_ami(plain, "ami-0000000000000dead")
    drifted = run.rt.reconciler.run()
    assert drifted.plan.changes == (Converge(PRESET, (REGION,), (plain,), TARGET),)
    found = theirs.get(plain)
    assert found is not None and found.value == copy(1, TARGET)
