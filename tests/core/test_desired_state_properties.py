"""Desired state under concurrency: events, Config deploys, pins and reconcile runs race.

Two presets share one pipeline, in two regions. Hypothesis draws a set of
actions (build events, each possibly delivered twice; Config updates of either
preset; pin, unpin and rollback; reconcile runs; another tool's
read-modify-write of both home parameters; an AMI deregistered), starts one
execution per action and chooses which execution makes the next port call; an
execution may die at any gate and is then run again, as Lambda and
CloudFormation retry. At quiescence, whatever the interleaving:

* each record's registers are what the set of builds alone decides (unless an
  AMI was deregistered: then after the runs below);
* each parameter, in both regions, equals its desired value: the pin's AMI when pinned, else the
  newest good build's, the record's Config, no retired key, foreign keys kept; the one preset
  with a plain AMI parameter has it hold that AMI (DataType aws:ec2:image) in both regions
  (when the other tool wrote last, after the next amistate write: its
  read-modify-write may put back what it read, and SSM has no compare-and-set);
* no key written by someone else is lost: the other tool's keys have the value
  it gave them (or stay removed), unless an amistate execution died between
  writing the parameter and comparing versions (the one window amistate cannot
  close, docs/configuration.md);
* a rollback pinned a build older than the newest good one;
* one more reconcile run (the history limit is small: it trims), then a
  second plans nothing; an unpinned record's AMI is then the newest good
  build whole in both regions (every newer good build lost an AMI, to a
  deregistration that raced the rest), or a problem says none is left.

Both presets list a target account (``LISTED``; ``small`` also ``DENIED``, whose
role is refused until the final runs) through the in-memory accounts twin.
Builds copy their AMIs to some accounts (not every build to ``LISTED``; every
build to ``UNLISTED``, which no preset lists), and a copy may vanish there. At
quiescence, and again after the final runs (``DENIED`` healed by then):

* each reachable listed account's parameter holds that account's copy of the
  live (or pinned) build with the record's Config, or, when that build has no
  copy there, stays on a copy it held before;
* a denied account and an unlisted one were never written;
* a build newer than the one held is not whole: an AMI of ours or a copy in a
  listed account lost, or no copy in one;
* the record names as behind exactly the accounts the live build has no copy for.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from amistate_adapters.memory import memory_ports
from amistate_adapters.memory_accounts import MemoryAccounts
from amistate_adapters.memory_inventory import (
    MemoryImage,
    MemoryMachineImages,
    MemoryPipelineImages,
)
from attrs import define, evolve
from hypothesis import example, given, settings
from hypothesis import strategies as st

from amistate.core import rules
from amistate.core.ami_parameter import AMI_DATA_TYPE
from amistate.core.amis import NO_AMIS, Amis, Place
from amistate.core.desired import desired_value, parameter_value
from amistate.core.events import BuildEvent
from amistate.core.settings import Settings
from amistate.core.state import Rollout
from amistate.errors import NoCandidate, PinRefused, RejectRefused
from amistate.ports import Ports
from amistate.ports.inventory import BuildSummary, Inventory
from amistate.usecases.deploy.properties import PresetProperties
from amistate.usecases.deploy.request import PreviousPreset
from amistate.usecases.reconcile.plan import Feed, event_of
from amistate.wiring.compose import from_ports
from tests.core.interleave import Gated, Scheduler, calls_of

REGION = "us-west-2"
EU = "eu-west-1"
REGIONS = (REGION, EU)
ACCOUNT = "111122223333"
PIPELINE = f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image-pipeline/runners"
PRESETS = ("small", "large")
T0 = datetime(2024, 6, 3, 6, 0, tzinfo=UTC)
CONFIGS: tuple[dict[str, Any], ...] = (
    {"instanceTypes": ["m7i.large"], "timeout": 3600, "secret": "s3cr3t"},
    {"instanceTypes": ["m7i.xlarge"], "timeout": 7200},
    {"timeout": 7200, "labels": ["gpu"]},
)
AMI_PARAMETER = "/spot-runner/amis/small"
FOREIGN = {"maxRunners": 5}  # a key nobody configured: it must survive every write
LISTED = "444455556666"  # both presets list it; builds 3 and 6 have no copy there
DENIED = "777788889999"  # ``small`` lists it; its role is refused until the final runs
UNLISTED = "999900001111"  # every build is copied there; no preset lists it
ACCOUNTS = (LISTED, DENIED, UNLISTED)


def build_arn(n: int) -> str:
    return f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:image/runners/1.0.0/{n}"


def ami(n: int, region: str = REGION) -> str:
    return f"ami-{n + (100 if region == EU else 0):017x}"


def copy(n: int, region: str, account: str) -> str:
    """Build ``n``'s copy in ``account``."""
    return f"ami-{n + (100 if region == EU else 0):09x}{account[:8]}"


def copied_to(n: int) -> tuple[str, ...]:
    return tuple(a for a in ACCOUNTS if a != LISTED or n % 3)


def summary(n: int, good: bool) -> BuildSummary:
    # Builds overlap: build n starts at n*10 minutes and may finish after n+1.
    copies = {a: {r: copy(n, r, a) for r in REGIONS} for a in copied_to(n)}
    return BuildSummary(
        arn=build_arn(n),
        status="AVAILABLE" if good else "FAILED",
        created=T0 + timedelta(minutes=10 * n),
        amis=Amis.of({r: ami(n, r) for r in REGIONS}, copies=copies) if good else NO_AMIS,
    )


class GatedAccounts:
    """The accounts twin whose stores' calls pass the scheduler's gate."""

    def __init__(self, scheduler: Scheduler, accounts: MemoryAccounts) -> None:
        self.scheduler = scheduler
        self.accounts = accounts

    def parameters(self, account: str, region: str) -> Any:
        store = self.accounts.parameters(account, region)
        return Gated(self.scheduler, f"account-ssm[{account}/{region}]", store)

    def machines(self, account: str, region: str) -> Any:
        machine = self.accounts.machines(account, region)
        return Gated(self.scheduler, f"account-ec2[{account}/{region}]", machine)


@define
class World:
    ports: Ports
    pipelines: MemoryPipelineImages
    configs: dict[str, int]  # preset -> index of its deployed config
    machines: dict[str, MemoryMachineImages]  # EC2, by region
    accounts: MemoryAccounts
    ssm: Any = None  # the gated parameter store, as the other tool writes it

    def runtime(self, scheduler: Scheduler) -> Any:
        p = self.ports
        gated = Ports(
            states=Gated(scheduler, "states", p.states),
            catalog=Gated(scheduler, "catalog", p.catalog),
            images=p.images,
            starter=p.starter,
            parameters={r: Gated(scheduler, f"ssm[{r}]", s) for r, s in p.parameters.items()},
            accounts=GatedAccounts(scheduler, self.accounts),
        )
        self.ssm = gated.parameters[REGION]
        machines = {r: Gated(scheduler, f"ec2[{r}]", m) for r, m in self.machines.items()}
        inventory = Inventory(pipelines=self.pipelines, machines=machines)
        return from_ports(SETTINGS, gated, inventory=inventory)


SETTINGS = Settings(
    home_region=REGION, account=ACCOUNT, table="t", extra_regions=(EU,), history_limit=3
)


def props(preset: str, config: int) -> PresetProperties:
    # "small" also keeps a plain AMI parameter; "large" has none.
    return PresetProperties(
        preset=preset,
        pipeline_arn=PIPELINE,
        config=CONFIGS[config],
        start_build=False,
        ami_parameter=AMI_PARAMETER if preset == "small" else None,
        target_accounts=(LISTED, DENIED) if preset == "small" else (LISTED,),
    )


def make_world(builds: list[BuildSummary]) -> World:
    accounts = MemoryAccounts()
    accounts.denied.add(DENIED)
    ports = evolve(memory_ports(REGIONS), accounts=accounts)
    pipelines = MemoryPipelineImages()
    for build in builds:
        pipelines.add(PIPELINE, build.arn, build.status, build.created, build.amis)
    machines = {r: MemoryMachineImages(r, ACCOUNT) for r in REGIONS}
    for region, images in machines.items():
        for n in range(1, 7):
            images.images[ami(n, region)] = MemoryImage(owner=ACCOUNT)
    for account in ACCOUNTS:
        for region in REGIONS:
            there = accounts.images.setdefault(
                (account, region), MemoryMachineImages(region, account)
            )
            for n in range(1, 7):
                there.images[copy(n, region, account)] = MemoryImage(owner=account)
    world = World(ports, pipelines, {}, machines, accounts)
    rt = from_ports(SETTINGS, ports)
    for preset in PRESETS:
        rt.deployer.create(props(preset, 0), token=f"create-{preset}")
        world.configs[preset] = 0
        name = f"/spot-runner/configs/{preset}"
        for region in REGIONS:
            value = json.dumps({**CONFIGS[0], **FOREIGN, "amiId": ami(0, region)})
            ports.parameters[region].put(name, value, like=None)
    return world


Action = tuple[str, int]  # ("event", build) | ("deploy-small"/"deploy-large", config) | ...

actions = st.one_of(
    st.tuples(st.just("event"), st.integers(0, 5)),
    st.tuples(st.sampled_from(["deploy-small", "deploy-large"]), st.integers(0, 2)),
    st.tuples(st.sampled_from(["pin", "unpin", "rollback"]), st.integers(1, 6)),
    st.tuples(st.just("reconcile"), st.just(0)),
    st.tuples(st.just("foreign"), st.integers(0, 3)),
    st.tuples(st.just("vanish"), st.integers(2, 11)),  # build n // 2, region n % 2
    st.tuples(st.just("vanish-copy"), st.integers(2, 11)),  # LISTED's copy, alike
)


def their_value(value: dict[str, Any], n: int) -> dict[str, Any]:
    """The other tool's edit: its own key ``owner``; ``maxRunners`` set to n, or removed (0)."""
    edited = {**value, "owner": f"team-{n}"}
    if n:
        edited["maxRunners"] = n
    else:
        edited.pop("maxRunners", None)
    return edited


def foreign_write(world: World, n: int) -> None:
    """Another tool's read-modify-write of each parameter (a read, then a write)."""
    for preset in PRESETS:
        name = f"/spot-runner/configs/{preset}"
        read = world.ssm.get(name)
        value = their_value(json.loads(read.value), n)
        world.ssm.put(name, json.dumps(value), like=read)


def perform(rt: Any, world: World, action: Action, builds: list[BuildSummary]) -> Callable[[], Any]:
    kind, n = action
    if kind == "event":
        build = builds[n % len(builds)]
        event = event_of(build, PIPELINE, build.created + timedelta(minutes=30))
        return lambda: rt.service.handle(event)
    if kind.startswith("deploy-"):
        preset = kind.removeprefix("deploy-")
        previous = PreviousPreset(preset=preset, pipeline_arn=PIPELINE)
        world.configs[preset] = n
        return lambda: rt.deployer.update(props(preset, n), previous, token=f"u{n}")
    if kind == "reconcile":
        return lambda: rt.reconciler.run()
    if kind == "foreign":
        return lambda: foreign_write(world, n)
    if kind == "vanish":  # a person or a lifecycle policy deregisters an AMI (a gated call)
        machine = rt.reconciler.machines[REGIONS[n % 2]]
        return lambda: machine.deregister(ami(n // 2, machine.region))
    if kind == "vanish-copy":  # the same in the listed account, of its copy
        region = REGIONS[n % 2]
        there = rt.converger.accounts.machines(LISTED, region)
        return lambda: there.deregister(copy(n // 2, region, LISTED))

    def pin_op() -> Any:
        try:
            if kind == "pin":
                return rt.pins.pin("small", ami(n))
            if kind == "rollback":
                return rt.pins.rollback("large")
            return rt.pins.unpin("small")
        except PinRefused:
            return None

    return pin_op


# Interleavings that lost the other tool's key in earlier designs of the check:
# two amistate writes over its write, each taking the other's copy for the truth;
@example([True], [("event", 0), ("event", 0), ("foreign", 0)], [], {0})
# a write judging a deploy's new Config key by its older record;
@example([True], [("reconcile", 0), ("event", 0), ("foreign", 0), ("deploy-large", 2)], [3], set())
# a write made from a stale copy, over the copy that restored the other tool's keys.
@example(
    [True, True],
    [("event", 0), ("reconcile", 0), ("foreign", 0), ("deploy-small", 0)],
    [0, 3],
    set(),
)
# the live build has no copy in the listed account, the build before it a copy that
# vanished there: falling back to that build would make the next run fall back again.
@example([True, True, True], [("vanish", 6), ("vanish-copy", 4)], [], set())
@given(
    st.lists(st.booleans(), min_size=1, max_size=4),
    st.lists(actions, min_size=1, max_size=4),
    st.lists(st.integers(0, 7), max_size=120),
    st.sets(st.integers(0, 60), max_size=2),
)
@settings(deadline=None, max_examples=300)
def test_parameters_equal_their_desired_value_at_quiescence(
    outcomes: list[bool], drawn: list[Action], schedule: list[int], abandons: set[int]
) -> None:
    builds = [summary(i + 1, good) for i, good in enumerate(outcomes)]
    # CloudFormation never runs two updates of one resource at once: one deploy per preset.
    deploys = [a for a in drawn if a[0].startswith("deploy-")]
    # One other tool (two racing among themselves would lose each other's keys on their own).
    theirs = [a for a in drawn if a[0] == "foreign"][:1]
    drawn = [a for a in drawn if not a[0].startswith(("deploy-", "foreign"))]
    drawn += list(dict(deploys).items()) + theirs
    # An AMI is deregistered once.
    gone = list(dict.fromkeys(a for a in drawn if a[0].startswith("vanish")))
    drawn = gone + [a for a in drawn if not a[0].startswith("vanish")]
    world = make_world(builds)
    scheduler = Scheduler()
    rt = world.runtime(scheduler)
    work: dict[str, Callable[[], Any]] = {}
    for i, action in enumerate(drawn):
        work[f"a{i}"] = perform(rt, world, action, builds)
        scheduler.start(f"a{i}", work[f"a{i}"])
    choices = iter(schedule)
    step = 0
    while waiting := scheduler.waiting():
        chosen = waiting[next(choices, step) % len(waiting)]  # then round robin
        scheduler.step(chosen, abandon=step in abandons)
        if step in abandons:
            name = chosen.name.rstrip("'")
            scheduler.start(chosen.name + "'", work[name])
        step += 1
    for execution in scheduler.executions:
        if execution.error is not None:
            raise execution.error

    delivered = {builds[n % len(builds)].arn for kind, n in drawn if kind == "event"}
    reconciled = any(kind == "reconcile" for kind, _ in drawn)
    known = [b for b in builds if reconciled or b.arn in delivered]
    other = f"a{len(drawn) - 1}" if theirs else None
    vanished = bool(gone)
    for preset in PRESETS:
        name = f"/spot-runner/configs/{preset}"
        if other is not None and _last_writer(scheduler, name) == other:
            rt.service.sync(preset)  # the next amistate write (event, sync, reconcile run)
        record = world.ports.states.get(preset)
        assert record is not None
        if not vanished:
            _check_registers(record, known)
        parameter = world.ports.parameters[REGION].get(name)
        assert parameter is not None
        value = json.loads(parameter.value)
        if name not in _died_writing(scheduler):
            expected = their_value(FOREIGN, theirs[0][1]) if theirs else FOREIGN
            assert {k: value.get(k) for k in expected} == expected
            assert ("maxRunners" in value) == ("maxRunners" in expected)
        _check_parameters(world, preset)
        _check_accounts(world, preset, reached=(LISTED,))
    # The denied role is fixed; one more run (every build now known), then a second:
    # it plans nothing.
    world.accounts.denied.clear()
    assert rt.reconciler.run().failed == {}
    again = rt.reconciler.run()
    assert again.plan.changes == (), again.plan.changes
    for preset in PRESETS:
        record = world.ports.states.get(preset)
        assert record is not None
        if not vanished:
            _check_registers(record, builds)
        _check_parameters(world, preset)
        _check_accounts(world, preset, reached=(LISTED, DENIED), settled=True)
    _check_fallback(world, builds, again.plan.problems)
    _check_rollback(world, builds)


def _check_parameters(world: World, preset: str) -> None:
    """Both regions' parameters say what the record wants (AMI, Config, retired keys)."""
    record = world.ports.states.get(preset)
    assert record is not None
    for region in REGIONS:
        parameter = world.ports.parameters[region].get(f"/spot-runner/configs/{preset}")
        assert parameter is not None
        want = record.ami_for(region)
        if want is None:  # no good build yet: the deploy push keeps the old AMI
            continue
        assert json.loads(parameter.value)["amiId"] == want
        assert parameter_value(parameter.value, record.config, want, record.retired_keys) == (
            parameter.value
        )
        assert record.config == CONFIGS[world.configs[preset]]
        plain = world.ports.parameters[region].get(AMI_PARAMETER)
        if record.ami_parameter is None:
            assert preset == "large"
            continue
        assert plain is not None
        assert (plain.value, plain.data_type) == (want, AMI_DATA_TYPE)


def _last_writer(scheduler: Scheduler, name: str) -> str | None:
    """The execution (retries as the first attempt) whose PutParameter of ``name`` came last."""
    puts = [
        c
        for c in scheduler.calls
        if c.port == f"ssm[{REGION}]" and c.method == "put" and c.args[:1] == (name,)
    ]
    return puts[-1].execution.rstrip("'") if puts else None


def _died_writing(scheduler: Scheduler) -> set[str]:
    """Parameters an execution died writing: right after its PutParameter, or after
    reading the history to keep what another writer wrote and before writing again."""
    died: set[str] = set()
    for execution in scheduler.executions:
        calls = list(calls_of(scheduler, execution.name))
        ssm = [c for c in calls if c.port.startswith("ssm")]
        if execution.state != "abandoned" or not ssm:
            continue
        if calls[-1].method == "put" or ssm[-1].method == "history":
            died.add(str(ssm[-1].args[0]))
    return died


def _check_accounts(
    world: World, preset: str, reached: tuple[str, ...], settled: bool = False
) -> None:
    """Each reached account the preset lists holds its copy of the live build (or, with
    no copy there, one it held before); the others were never written. ``settled``:
    after the final runs, the record names as behind exactly the copy-less accounts."""
    record = world.ports.states.get(preset)
    assert record is not None
    name = f"/spot-runner/configs/{preset}"
    for account in ACCOUNTS:
        for region in REGIONS:
            store = world.accounts.stores.get((account, region))
            found = store.get(name) if store is not None else None
            if account not in reached or not _listers(account):
                assert store is None, f"{account} was reached"
            if account not in reached or account not in record.target_accounts:
                assert found is None, f"{account} got {preset}'s parameter"
                continue
            want = record.ami_for(region, account=account)
            if want is None:  # no copy of the live build there: a copy it held stays
                held = json.loads(found.value)["amiId"] if found is not None else None
                assert held in {None, *(copy(n, region, account) for n in range(1, 7))}
                continue
            assert found is not None and json.loads(found.value)["amiId"] == want
            assert desired_value(record, region, found.value, account=account) == found.value
    for region in REGIONS:  # nor tagged
        assert not any(i.tags for i in world.accounts.images[(UNLISTED, region)].images.values())
    if settled and record.ami_for(REGION) is not None:
        copyless = {
            a
            for a in record.target_accounts
            if any(record.ami_for(r, account=a) is None for r in REGIONS)
        }
        assert set(record.behind) == copyless


def _listers(account: str) -> tuple[str, ...]:
    """The presets listing ``account`` (its stores may exist for either)."""
    return tuple(p for p in PRESETS if account in props(p, 0).target_accounts)


def _launchable(world: World, place: Place, ami: str | None) -> bool:
    machine = (
        world.machines[place.region]
        if place.account is None
        else world.accounts.images[(place.account, place.region)]
    )
    return ami in machine.images


def _whole(world: World, build: Any, accounts: tuple[str, ...], strict: bool) -> bool:
    """Every AMI of ours launchable, and each copy in ``accounts``; ``strict``: a copy in
    each of them too."""
    for region in REGIONS:
        for account in (None, *accounts):
            found = build.amis.at(region, account)
            if found is None and account is not None and not strict:
                continue
            if not _launchable(world, Place(region, account), found):
                return False
    return True


def _check_fallback(world: World, builds: list[BuildSummary], problems: Any) -> None:
    good = sorted((b for b in builds if b.status == "AVAILABLE"), key=lambda b: b.created)
    for preset in PRESETS:
        record = world.ports.states.get(preset)
        assert record is not None
        if record.pin is not None or not good:
            continue
        held = next(b for b in good if b.arn == record.ami_build_id)
        assert record.history[record.ami_key].build_id == held.arn
        listed = record.target_accounts
        newer = [b for b in good if b.created > held.created]
        assert not any(_whole(world, b, listed, strict=True) for b in newer)
        kept = record.history[record.ami_key]  # held, as the record keeps it (trusted copies)
        assert _whole(world, kept, listed, strict=False) or [
            p for p in problems if p.preset == preset
        ]


def _check_rollback(world: World, builds: list[BuildSummary]) -> None:
    """Only rollbacks pin ``large``: always to a good build older than the newest good one."""
    record = world.ports.states.get("large")
    assert record is not None
    if record.pin is None:
        return
    good = [event_of(b, PIPELINE) for b in builds if b.status == "AVAILABLE"]
    newest = max(good, key=rules.ordering_key)
    pinned = next(e for e in good if e.build.arn == record.pin.build_id)
    assert record.pin.reason == "rollback"
    assert rules.ordering_key(pinned) < rules.ordering_key(newest)


def _check_registers(record: Any, known: list[BuildSummary]) -> None:
    events: list[BuildEvent] = [event_of(b, PIPELINE) for b in known]
    if not events:
        return
    newest = max(events, key=rules.ordering_key)
    assert record.build_id == newest.build.arn
    good = [e for e in events if e.status == "AVAILABLE"]
    if good:
        best = max(good, key=rules.ordering_key)
        assert record.ami_build_id == best.build.arn


def test_a_build_one_preset_of_a_pipeline_keeps_does_not_join_the_others_history() -> None:
    """``small`` falls back to build 4 and needs builds 3 and 2 (its previous good ones)
    again; ``large``, pinned to build 1, needs neither. The builds' feeds run for both
    presets: only ``small`` keeps them, or ``large``'s next run would forget them again
    (and every run after would feed and forget them)."""
    builds = [summary(n, True) for n in range(1, 7)]
    world = make_world(builds)
    rt = world.runtime(Scheduler())
    for build in builds:
        rt.service.handle(event_of(build, PIPELINE, build.created + timedelta(minutes=30)))
    rt.pins.pin("large", ami(1))
    assert rt.reconciler.run().counts()["trimmed"] == 2
    for n in (6, 5):
        world.machines[REGION].deregister(ami(n))

    first = rt.reconciler.run()

    assert first.failed == {}
    assert [i.build.arn for i in first.done if isinstance(i, Feed)] == [build_arn(2), build_arn(3)]
    histories = {p: {b.build_id for b in rt.service.require(p).builds()} for p in PRESETS}
    assert histories["small"] == {build_arn(n) for n in range(2, 7)}
    assert histories["large"] == {build_arn(n) for n in (1, 4, 5, 6)}
    again = rt.reconciler.run()
    assert again.plan.changes == (), again.plan.changes


# --- rollouts: candidates, promotions and rejections among events, pins and runs -----------

POLICIES: tuple[Rollout, ...] = (Rollout(), Rollout("manual"), Rollout("soak", timedelta(hours=1)))

rollout_actions = st.one_of(
    st.tuples(st.just("event"), st.integers(0, 5)),
    st.tuples(st.sampled_from(["policy-small", "policy-large"]), st.integers(0, 2)),
    st.tuples(st.sampled_from(["pin", "unpin"]), st.integers(1, 6)),
    st.tuples(st.just("reconcile"), st.just(0)),
    st.tuples(st.sampled_from(["promote-small", "promote-large"]), st.just(0)),
    st.tuples(st.sampled_from(["reject-small", "reject-large"]), st.integers(0, 6)),
    st.tuples(st.just("vanish"), st.integers(2, 9)),  # build n // 2's AMI in region n % 2
)


def perform_rollout(
    rt: Any, world: World, action: Action, builds: list[BuildSummary]
) -> Callable[[], Any]:
    """A rollout action (a deploy of a policy, promote, reject: ``n`` names the build's
    AMI, 0 the candidate), or one of :func:`perform`'s."""
    kind, n = action
    preset = kind.partition("-")[2]
    if kind == "vanish":  # a candidate's AMI too, perhaps (a build that never came: nothing)
        machine = rt.reconciler.machines[REGIONS[n % 2]]
        gone = ami(n // 2, machine.region)
        return lambda: machine.deregister(gone) if gone in machine.images else None
    if kind.startswith("policy-"):
        previous = PreviousPreset(preset=preset, pipeline_arn=PIPELINE)
        changed = evolve(props(preset, 0), rollout=POLICIES[n])
        return lambda: rt.deployer.update(changed, previous, token=f"p{n}")

    def operate() -> Any:
        try:
            if kind.startswith("promote-"):
                return rt.promotions.promote(preset)
            if kind.startswith("reject-"):
                return rt.promotions.reject(preset, ami(n) if n else None, "canary failed")
        except (NoCandidate, RejectRefused):
            return None
        return perform(rt, world, action, builds)()

    return operate


@example([True, True], [("policy-small", 1), ("event", 0), ("event", 1), ("reject-small", 0)], [])
# The manual preset's candidate (build 4) loses its AMI: the run withdraws it.
@example([False, True, True, True], [("vanish", 8)], [])
# A rejected candidate pinned afterwards: the pin is refused.
@example([True, True], [("event", 0), ("event", 1), ("reject-small", 2), ("pin", 2)], [0] * 80)
@given(
    st.lists(st.booleans(), min_size=1, max_size=4),
    st.lists(rollout_actions, min_size=1, max_size=5),
    st.lists(st.integers(0, 7), max_size=120),
)
@settings(deadline=None, max_examples=150)
def test_rollouts_never_make_a_rejected_build_live(
    outcomes: list[bool], drawn: list[Action], schedule: list[int]
) -> None:
    """Presets start under ``manual`` (small) and ``soak`` (large); policies change, builds
    arrive, operators pin, promote and reject, reconcile runs race. At quiescence and after
    one more run: no rejected build is live, pinned or waiting; a candidate is newer than the
    live build and waits only under ``manual``; every parameter is its desired value
    (``candidateAmiId`` included); a second run plans nothing."""
    builds = [summary(i + 1, good) for i, good in enumerate(outcomes)]
    # CloudFormation never runs two updates of one resource at once: one deploy per preset.
    policies = dict(a for a in drawn if a[0].startswith("policy-"))
    drawn = [a for a in drawn if not a[0].startswith("policy-")] + list(policies.items())
    drawn = list(dict.fromkeys(drawn))  # an AMI is deregistered once (others: once is as good)
    world = make_world(builds)
    rt0 = from_ports(SETTINGS, world.ports)
    for preset, rollout in (("small", POLICIES[1]), ("large", POLICIES[2])):
        previous = PreviousPreset(preset=preset, pipeline_arn=PIPELINE)
        rt0.deployer.update(evolve(props(preset, 0), rollout=rollout), previous, token="r")
    scheduler = Scheduler()
    rt = world.runtime(scheduler)
    for i, action in enumerate(drawn):
        scheduler.start(f"a{i}", perform_rollout(rt, world, action, builds))
    choices = iter(schedule)
    step = 0
    while waiting := scheduler.waiting():
        scheduler.step(waiting[next(choices, step) % len(waiting)])
        step += 1
    for execution in scheduler.executions:
        if execution.error is not None:
            raise execution.error
    _check_rollout(world)
    assert rt.reconciler.run().failed == {}
    again = rt.reconciler.run()
    assert again.plan.changes == (), again.plan.changes
    _check_rollout(world)
    for preset in PRESETS:  # after a run, no canary runner is sent to a deregistered AMI
        record = world.ports.states.get(preset)
        candidate = record.waiting if record is not None else None
        for region in REGIONS if candidate is not None else ():
            shown = candidate.amis.at(region) if candidate is not None else None
            assert shown is None or shown in rt.reconciler.machines[region].images


def _check_rollout(world: World) -> None:
    for preset in PRESETS:
        record = world.ports.states.get(preset)
        assert record is not None
        rejected = {b.build_id for b in record.history.values() if b.rejection is not None}
        live = {record.ami_build_id, record.pin.build_id if record.pin else None}
        assert not live & rejected, "a rejected build is live"
        waiting = record.waiting
        if waiting is not None:
            assert waiting.build_id not in rejected and waiting.key > record.ami_key
            assert record.rollout.policy == "manual"  # soak (old builds) and immediate promote
        for region in REGIONS:
            parameter = world.ports.parameters[region].get(f"/spot-runner/configs/{preset}")
            assert parameter is not None
            value = json.loads(parameter.value)
            want = record.ami_for(region)
            if want is None:
                continue
            assert value["amiId"] == want
            assert value.get("candidateAmiId") == record.candidate_ami_for(region)
            assert desired_value(record, region, parameter.value) == parameter.value
