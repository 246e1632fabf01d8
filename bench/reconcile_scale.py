"""Issue 16 item 6: the reconciler over 1,000 presets, on dynalite and on moto.

Each preset has its own Image Builder pipeline (the common layout: one
recipe per runner preset), one region (us-west-2), its record and pipeline
mapping in DynamoDB, and its SSM parameter. Where things live:

* DynamoDB: dynalite (``node_modules/dynalite``, as tests/servers.py starts
  it) or moto's server, one fresh table per backend;
* SSM and EC2: a fresh bench server (moto, in its own process) per backend,
  so AMIs and tags of one backend never show up in the other; every AMI is
  a real ``RegisterImage`` there, so ``DescribeImages`` finds it;
* Image Builder: :class:`amistate.testing.standin.ImageBuilderStandIn`
  (``ListImagePipelineImages``, ``ListWorkflowExecutions``, ``GetImage``),
  in this process on loopback. Its builds finish with ``deliver=False``: the
  events are lost, only a reconcile run can find them.

The reconciler is the Lambda's own (``runtime.from_environment().reconciler``:
AWS adapters, shared clients); AWS calls are counted by botocore
``before-call`` (:class:`amistate.wiring.compose.CallCounter`, the number the
reconcile Lambda logs as ``awsCalls``), and by operation by a second hook on
the same clients. Runs, one after the other on the same world:

1. **first run**: every preset's first build completed without its event,
   so every preset is fed (a 100 % repair; it also tags every AMI in use);
2. **no change**: nothing happened since; the plan must be empty;
3. **10 % repair**: one preset in ten got a new build whose event was lost;
   the plan must feed exactly those, and afterwards each of their parameters
   holds its new AMI;
4. **no change again**: the repaired world has converged (not with target accounts:
   there, the check of every account's parameters below).

Wall time includes moto/dynalite's time: both share the two cores with this
process, so the seconds describe the rig as much as amistate.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from attrs import define, field

from bench.common import ACCOUNT, CONFIG, REGION, TARGET_ACCOUNTS, pipeline_arn, table
from bench.server import BenchServer
from bench.world import FUNCTION_ARN, PREFIX, assumed_client, environment, preset_name

TABLE = "amistate-reconcile"
T0 = datetime(2024, 6, 3, 6, 0, tzinfo=UTC)
BUDGET = 1.5  # AWS calls per preset, no-change run
REPAIR_SHARE = 10  # one preset in ten loses an event
BACKENDS = ("dynalite", "moto")


@define
class RunResult:
    name: str
    presets: int
    calls: int
    seconds: float
    by_operation: Counter[str] = field(factory=Counter)
    changes: Counter[str] = field(factory=Counter)
    failed: int = 0
    #: The calls the bench server saw (all but Image Builder's), by (account, operation).
    by_account: Counter[tuple[str, str]] = field(factory=Counter)

    @property
    def per_preset(self) -> float:
        return self.calls / self.presets if self.presets else 0.0


@define
class BackendResult:
    backend: str
    presets: int
    runs: list[RunResult] = field(factory=list)
    problems: list[str] = field(factory=list)
    accounts: tuple[str, ...] = ()  # the target accounts every preset lists

    @property
    def label(self) -> str:
        n = len(self.accounts)
        return self.backend + (f", {n} target account{'s' if n > 1 else ''}" if n else "")

    @property
    def places(self) -> int:
        """Parameters the presets have (in our account and each target account)."""
        return self.presets * (1 + len(self.accounts))

    def run(self, name: str) -> RunResult:
        return next(r for r in self.runs if r.name == name)


def repair_cost(side: BackendResult) -> float:
    """AWS calls a repaired preset costs: the 10% repair run's calls beyond the no-change
    run's, over the presets it repaired, plus each preset's share of a no-change run."""
    repair, quiet = side.run("10% repair"), side.run("no change")
    repaired = repair.changes.get("builds", 0) or 1
    return (repair.calls - quiet.calls) / repaired + quiet.per_preset


class Operations:
    """Counts API calls by operation on the clients it watches (botocore ``before-call``)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def __call__(self, model: Any = None, **_: Any) -> None:
        service = model.service_model.service_name if model is not None else "?"
        self.counts[f"{service}:{getattr(model, 'name', '?')}"] += 1

    def watch(self, client: Any) -> None:
        client.meta.events.register("before-call", self, unique_id=f"bench-ops-{id(self)}")

    def take(self) -> Counter[str]:
        taken, self.counts = self.counts, Counter()
        return taken


@contextmanager
def _quiet() -> Iterator[None]:
    logger = logging.getLogger("amistate")
    saved, logger.propagate = logger.propagate, False
    silencer = logging.NullHandler()
    logger.addHandler(silencer)
    try:
        yield
    finally:
        logger.removeHandler(silencer)
        logger.propagate = saved


@contextmanager
def _patient(clients: Any) -> Iterator[None]:
    """A read timeout for a loaded machine: a 1,000-record Scan of dynalite or moto sharing
    the cores can outlast the production 10 s, and a timed-out call retried would count
    twice (it would not on AWS)."""
    saved, clients.READ_TIMEOUT = clients.READ_TIMEOUT, 120.0
    clients.clear()
    try:
        yield
    finally:
        clients.READ_TIMEOUT = saved
        clients.clear()


class Stage:
    """One backend's world: presets, pipelines in the stand-in, AMIs in moto's EC2 (with
    ``accounts``: every preset lists them, each build has a copy in each, each holds
    the preset's parameter)."""

    def __init__(self, images: Any, presets: int, accounts: tuple[str, ...] = ()) -> None:
        from amistate_adapters import clients

        self.images = images
        self.presets = presets
        self.accounts = accounts
        self.ec2: dict[str | None, Any] = {None: clients.client("ec2", REGION)}  # type: ignore[call-overload]
        self.ssm: dict[str | None, Any] = {None: clients.client("ssm", REGION)}
        for account in accounts:
            self.ec2[account] = assumed_client("ec2", account)
            self.ssm[account] = assumed_client("ssm", account)
        #: (preset index, account or None) -> the AMI of its newest build there.
        self.latest: dict[tuple[int, str | None], str] = {}
        self.builds: dict[int, int] = {}  # preset index -> builds so far

    def register_ami(self, index: int, build: int, account: str | None = None) -> str:
        image = self.ec2[account].register_image(
            Name=f"spot-runner {preset_name(index)} 1.0.0 {build}",
            RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
        )
        ami: str = image["ImageId"]
        return ami

    def lose_a_build(self, index: int) -> None:
        """A new successful build of the preset's pipeline whose event is never delivered."""
        build = self.builds.get(index, 0) + 1
        amis = {a: self.register_ami(index, build, a) for a in (None, *self.accounts)}
        created = T0 + timedelta(days=build - 1, seconds=index)
        arn = self.images.new_build(pipeline_arn(preset_name(index)), created)
        finished = created + timedelta(minutes=40)
        copies = {a: {REGION: amis[a]} for a in self.accounts}
        self.images.finish(
            arn, "AVAILABLE", {REGION: amis[None]}, finished=finished, deliver=False, copies=copies
        )
        self.builds[index] = build
        self.latest.update({(index, a): ami for a, ami in amis.items()})

    def add_preset(self, index: int) -> None:
        """Registered as a deploy does (record, mapping, parameter), first build lost."""
        from amistate_adapters import clients
        from amistate_adapters.dynamodb import DynamoPresetCatalog, DynamoStateStore
        from amistate_adapters.ssm import SsmParameterStore

        from amistate.ports import Preset

        name = preset_name(index)
        dynamodb = clients.client("dynamodb", REGION)
        DynamoStateStore(TABLE, dynamodb).create_initial(name, T0)
        preset = Preset(name, pipeline_arn(name), CONFIG, target_accounts=self.accounts)
        DynamoPresetCatalog(TABLE, dynamodb).register(preset)
        value = _json({**CONFIG, "amiId": "ami-0ffffffffffffffff"})
        # Ours only: the first run creates each target account's (as it would update it).
        SsmParameterStore(self.ssm[None], REGION).put(f"{PREFIX}/{name}", value, None)
        self.lose_a_build(index)


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def _measure(
    name: str,
    presets: int,
    reconcile: Callable[[], Any],
    calls: Any,
    ops: Operations,
    server: BenchServer,
) -> tuple[RunResult, Any]:
    ops.take()
    server.calls()
    before = calls.value
    started = time.perf_counter()
    report = reconcile()
    seconds = time.perf_counter() - started
    seen = Counter((account, call) for call, account in server.account_calls())
    result = RunResult(
        name=name,
        presets=presets,
        calls=calls.value - before,
        seconds=seconds,
        by_operation=ops.take(),
        changes=Counter({k: v for k, v in report.counts().items() if v}),
        failed=len(report.failed),
        by_account=seen,
    )
    return result, report


def measure_backend(
    backend: str, presets: int, dynamodb_url: str | None, accounts: tuple[str, ...] = ()
) -> BackendResult:
    """Set up ``presets`` (listing ``accounts``) on a fresh bench server (and dynalite),
    then the four runs."""
    from amistate_adapters import clients

    from amistate.shims import runtime
    from amistate.testing.standin import ImageBuilderStandIn
    from amistate.testing.world import create_table

    out = BackendResult(backend, presets, accounts=accounts)
    with BenchServer() as server, ImageBuilderStandIn() as images:
        services = {"EC2": server.url, "IMAGEBUILDER": images.url}
        if dynamodb_url is not None:
            services["DYNAMODB"] = dynamodb_url
        env = {**server.env(services), "AMISTATE_TABLE": TABLE}
        with environment(env), _quiet(), _patient(clients):
            create_table(clients.client("dynamodb", REGION), TABLE)
            stage = Stage(images, presets, accounts)
            indices = range(1, presets + 1)
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(stage.add_preset, indices))
            rt = runtime.from_environment(FUNCTION_ARN)
            reconciler = rt.reconciler  # builds the inventory (EC2 client) before timing
            ops = Operations()
            for service in ("dynamodb", "ssm", "imagebuilder", "ec2"):
                ops.watch(clients.client(service, REGION))  # type: ignore[call-overload]
            _watch_accounts(rt, ops)

            def run(name: str) -> Any:
                result, report = _measure(name, presets, reconciler.run, rt.calls, ops, server)
                out.runs.append(result)
                if report.failed:
                    out.problems.append(f"reconcile {backend} {name}: failed {report.failed}")
                return report

            _check_fed(out, "first run", run("first run"), set(indices))
            _check_quiet(out, "no change", run("no change"))
            lost = set(range(1, presets + 1, REPAIR_SHARE))
            for index in lost:
                stage.lose_a_build(index)
            _check_fed(out, "10% repair", run("10% repair"), lost)
            # The world with target accounts stops here (a fourth run would add about 20 s
            # to make bench); its parameters are checked below, in every account.
            if not accounts:
                _check_quiet(out, "no change, after the repair", run("no change, after the repair"))
            _check_parameters(out, stage)
    return out


def _watch_accounts(rt: Any, ops: Operations) -> None:
    """Count the target accounts' clients (made on first use, STS's too) by operation."""
    accounts = rt.ports.accounts
    counted = getattr(accounts, "watch", None)
    if counted is None:
        return

    def watch(client: Any) -> None:
        counted(client)
        ops.watch(client)

    accounts.watch = watch


def _check_fed(out: BackendResult, name: str, report: Any, expected: set[int]) -> None:
    from amistate.usecases.reconcile.plan import Feed

    fed = {i.preset for i in report.done if isinstance(i, Feed)}
    want = {preset_name(i) for i in expected}
    if fed != want:
        out.problems.append(
            f"reconcile {out.backend} {name}: fed {len(fed)} presets, expected {len(want)}"
        )


def _check_quiet(out: BackendResult, name: str, report: Any) -> None:
    if report.plan.instructions:
        kinds = Counter(type(i).__name__ for i in report.plan.instructions)
        out.problems.append(f"reconcile {out.backend} {name}: plan not empty: {dict(kinds)}")


def _check_parameters(out: BackendResult, stage: Stage) -> None:
    """Every parameter (in each account) holds its preset's newest AMI there."""
    import json

    names = [f"{PREFIX}/{preset_name(i)}" for i in range(1, stage.presets + 1)]
    wrong = 0
    for account, ssm in stage.ssm.items():
        for start in range(0, len(names), 10):
            asked = names[start : start + 10]
            found = ssm.get_parameters(Names=asked)["Parameters"]
            wrong += len(asked) - len(found)  # missing
            for parameter in found:
                index = int(parameter["Name"].rpartition("-")[2])
                held = json.loads(parameter["Value"]).get("amiId")
                wrong += held != stage.latest[(index, account)]
    if wrong:
        out.problems.append(f"reconcile {out.label}: {wrong} parameters without their newest AMI")


def measure(
    presets: int = 1000,
    backends: tuple[str, ...] = BACKENDS,
    account_presets: int = 0,
    accounts: tuple[str, ...] = TARGET_ACCOUNTS,
    account_backend: str = "moto",
) -> list[BackendResult]:
    """Each backend with ``presets``; then, with ``account_presets``, that many presets
    listing ``accounts`` (their parameters and AMIs on moto, which keeps each account
    apart; DynamoDB on ``account_backend``)."""
    results = [measure_on(backend, presets) for backend in backends]
    if account_presets:
        results.append(measure_on(account_backend, account_presets, accounts))
    return results


def measure_on(backend: str, presets: int, accounts: tuple[str, ...] = ()) -> BackendResult:
    """:func:`measure_backend` with DynamoDB on ``backend`` (dynalite started for it)."""
    from bench.scale import dynalite

    if backend != "dynalite":
        return measure_backend(backend, presets, None, accounts)
    with dynalite() as url:
        return measure_backend(backend, presets, url, accounts)


def _short(ops: Counter[str]) -> str:
    return ", ".join(f"{op.partition(':')[2]} {n}" for op, n in sorted(ops.items()))


def render(results: list[BackendResult]) -> str:
    rows = []
    for result in results:
        for run in result.runs:
            changes = ", ".join(f"{k} {v}" for k, v in sorted(run.changes.items())) or "none"
            rows.append(
                (
                    result.label,
                    run.name,
                    f"{run.presets:,}",
                    f"{run.calls:,}",
                    f"**{run.per_preset:.2f}**",
                    f"{run.calls / result.places:.2f}",
                    f"{run.seconds:.1f}",
                    f"{1000 * run.seconds / run.presets:.1f}",
                    changes,
                    _short(run.by_operation),
                )
            )
    headers = [
        "DynamoDB",
        "run",
        "presets",
        "AWS calls",
        "calls per preset",
        "per preset and account",
        "wall s",
        "ms per preset",
        "changes made",
        "calls by operation",
    ]
    text = (
        "One pipeline per preset, one region; SSM and EC2 on moto's server (a "
        "fresh process per backend), Image Builder on the stand-in, DynamoDB as named. Calls "
        "counted by botocore `before-call` on the reconciler's clients (what the reconcile "
        "Lambda logs as `awsCalls`). Runs in order on the same world: every first build lost "
        f"(first run), nothing new, one preset in {REPAIR_SHARE} with a lost build, nothing "
        "new again (not in the world with target accounts). Budget for a run that changes "
        f"nothing: ≤ {BUDGET} calls per preset (with target accounts: per preset and account, "
        "ours included).\n\n" + table(headers, rows)
    )
    with_accounts = [r for r in results if r.accounts]
    if with_accounts:
        text += "\n\n" + render_accounts(with_accounts)
    return text


def render_accounts(results: list[BackendResult]) -> str:
    """Where the calls of the runs with target accounts go, by account (the bench server's
    count: every call but Image Builder's, which are ours)."""
    rows = []
    for result in results:
        for run in result.runs:
            for account in (ACCOUNT, *result.accounts):
                ops = Counter(
                    {op: n for (where, op), n in run.by_account.items() if where == account}
                )
                if account == ACCOUNT:
                    ops.update({k: v for k, v in run.by_operation.items() if "imagebuilder" in k})
                rows.append(
                    (
                        result.label,
                        run.name,
                        "ours" if account == ACCOUNT else account,
                        f"{sum(ops.values()):,}",
                        f"{sum(ops.values()) / run.presets:.2f}",
                        _short(ops),
                    )
                )
    return (
        f"With target accounts, by account ({len(results[0].accounts)} accounts listed by "
        f"every one of {results[0].presets:,} presets; each reached through STS `AssumeRole`, "
        "counted in our account; moto keeps the accounts apart):\n\n"
        + table(["DynamoDB", "run", "account", "calls", "per preset", "calls by operation"], rows)
    )


def run(
    presets: int = 1000, backends: tuple[str, ...] = BACKENDS, account_presets: int = 0
) -> tuple[str, list[BackendResult]]:
    results = measure(presets, backends, account_presets)
    return render(results), results


__all__ = ["ACCOUNT", "BUDGET", "BackendResult", "RunResult", "measure", "render", "run"]
