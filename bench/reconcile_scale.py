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
4. **no change again**: the repaired world has converged.

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

from bench.common import ACCOUNT, CONFIG, REGION, pipeline_arn, table
from bench.server import BenchServer
from bench.world import FUNCTION_ARN, PREFIX, environment, preset_name

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

    @property
    def per_preset(self) -> float:
        return self.calls / self.presets if self.presets else 0.0


@define
class BackendResult:
    backend: str
    presets: int
    runs: list[RunResult] = field(factory=list)
    problems: list[str] = field(factory=list)

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
    """One backend's world: presets, pipelines in the stand-in, AMIs in moto's EC2."""

    def __init__(self, images: Any, presets: int) -> None:
        from amistate_adapters import clients

        self.images = images
        self.presets = presets
        self.ec2: Any = clients.client("ec2", REGION)  # type: ignore[call-overload]
        self.latest: dict[int, str] = {}  # preset index -> the AMI of its newest build
        self.builds: dict[int, int] = {}  # preset index -> builds so far

    def register_ami(self, index: int, build: int) -> str:
        image = self.ec2.register_image(
            Name=f"spot-runner {preset_name(index)} 1.0.0 {build}",
            RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
        )
        ami: str = image["ImageId"]
        return ami

    def lose_a_build(self, index: int) -> None:
        """A new successful build of the preset's pipeline whose event is never delivered."""
        build = self.builds.get(index, 0) + 1
        ami = self.register_ami(index, build)
        created = T0 + timedelta(days=build - 1, seconds=index)
        arn = self.images.new_build(pipeline_arn(preset_name(index)), created)
        finished = created + timedelta(minutes=40)
        self.images.finish(arn, "AVAILABLE", {REGION: ami}, finished=finished, deliver=False)
        self.builds[index] = build
        self.latest[index] = ami

    def add_preset(self, index: int) -> None:
        """Registered as a deploy does (record, mapping, parameter), first build lost."""
        from amistate_adapters import clients
        from amistate_adapters.dynamodb import DynamoPresetCatalog, DynamoStateStore
        from amistate_adapters.ssm import SsmParameterStore

        from amistate.ports import Preset

        name = preset_name(index)
        dynamodb = clients.client("dynamodb", REGION)
        DynamoStateStore(TABLE, dynamodb).create_initial(name, T0)
        DynamoPresetCatalog(TABLE, dynamodb).register(Preset(name, pipeline_arn(name), CONFIG))
        store = SsmParameterStore(clients.client("ssm", REGION), REGION)
        store.put(f"{PREFIX}/{name}", _json({**CONFIG, "amiId": "ami-0ffffffffffffffff"}), None)
        self.lose_a_build(index)


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def _measure(
    name: str, presets: int, reconcile: Callable[[], Any], calls: Any, ops: Operations
) -> tuple[RunResult, Any]:
    ops.take()
    before = calls.value
    started = time.perf_counter()
    report = reconcile()
    seconds = time.perf_counter() - started
    result = RunResult(
        name=name,
        presets=presets,
        calls=calls.value - before,
        seconds=seconds,
        by_operation=ops.take(),
        changes=Counter({k: v for k, v in report.counts().items() if v}),
        failed=len(report.failed),
    )
    return result, report


def measure_backend(backend: str, presets: int, dynamodb_url: str | None) -> BackendResult:
    """Set up ``presets`` on a fresh bench server (and dynalite), then the four runs."""
    from amistate_adapters import clients

    from amistate.shims import runtime
    from amistate.testing.standin import ImageBuilderStandIn
    from amistate.testing.world import create_table

    out = BackendResult(backend, presets)
    with BenchServer() as server, ImageBuilderStandIn() as images:
        services = {"EC2": server.url, "IMAGEBUILDER": images.url}
        if dynamodb_url is not None:
            services["DYNAMODB"] = dynamodb_url
        env = {**server.env(services), "AMISTATE_TABLE": TABLE}
        with environment(env), _quiet(), _patient(clients):
            create_table(clients.client("dynamodb", REGION), TABLE)
            stage = Stage(images, presets)
            indices = range(1, presets + 1)
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(stage.add_preset, indices))
            rt = runtime.from_environment(FUNCTION_ARN)
            reconciler = rt.reconciler  # builds the inventory (EC2 client) before timing
            ops = Operations()
            for service in ("dynamodb", "ssm", "imagebuilder", "ec2"):
                ops.watch(clients.client(service, REGION))  # type: ignore[call-overload]

            def run(name: str) -> Any:
                result, report = _measure(name, presets, reconciler.run, rt.calls, ops)
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
            _check_quiet(out, "no change, after the repair", run("no change, after the repair"))
            _check_parameters(out, stage, clients.client("ssm", REGION))
    return out


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


def _check_parameters(out: BackendResult, stage: Stage, ssm: Any) -> None:
    import json

    names = [f"{PREFIX}/{preset_name(i)}" for i in range(1, stage.presets + 1)]
    wrong = 0
    for start in range(0, len(names), 10):
        found = ssm.get_parameters(Names=names[start : start + 10])["Parameters"]
        for parameter in found:
            index = int(parameter["Name"].rpartition("-")[2])
            if json.loads(parameter["Value"]).get("amiId") != stage.latest[index]:
                wrong += 1
    if wrong:
        out.problems.append(f"reconcile {out.backend}: {wrong} parameters without their newest AMI")


def measure(presets: int = 1000, backends: tuple[str, ...] = BACKENDS) -> list[BackendResult]:
    from bench.scale import dynalite

    results = []
    for backend in backends:
        if backend == "dynalite":
            with dynalite() as url:
                results.append(measure_backend(backend, presets, url))
        else:
            results.append(measure_backend(backend, presets, None))
    return results


def _short(ops: Counter[str]) -> str:
    return ", ".join(f"{op.partition(':')[2]} {n}" for op, n in sorted(ops.items()))


def render(results: list[BackendResult]) -> str:
    rows = []
    for result in results:
        for run in result.runs:
            changes = ", ".join(f"{k} {v}" for k, v in sorted(run.changes.items())) or "none"
            rows.append(
                (
                    result.backend,
                    run.name,
                    f"{run.presets:,}",
                    f"{run.calls:,}",
                    f"**{run.per_preset:.2f}**",
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
        "wall s",
        "ms per preset",
        "changes made",
        "calls by operation",
    ]
    presets = results[0].presets if results else 0
    return (
        f"{presets:,} presets, one pipeline each, one region; SSM and EC2 on moto's server (a "
        "fresh process per backend), Image Builder on the stand-in, DynamoDB as named. Calls "
        "counted by botocore `before-call` on the reconciler's clients (what the reconcile "
        "Lambda logs as `awsCalls`). Runs in order on the same world: every first build lost "
        f"(first run), nothing new, one preset in {REPAIR_SHARE} with a lost build, nothing "
        f"new again. Budget for a run that changes nothing: ≤ {BUDGET} calls per preset.\n\n"
        + table(headers, rows)
    )


def run(
    presets: int = 1000, backends: tuple[str, ...] = BACKENDS
) -> tuple[str, list[BackendResult]]:
    results = measure(presets, backends)
    return render(results), results


__all__ = ["ACCOUNT", "BUDGET", "BackendResult", "RunResult", "measure", "render", "run"]
