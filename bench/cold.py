"""Deliverable 2: cold invocations in fresh interpreters, amistate vs the same calls by hand.

Each run is a new ``python`` process (bench/cold_amistate.py or
bench/cold_boto3.py) with the servers' endpoints in its environment; the two
kinds alternate (ABBA...), so drift hits both alike. Wall time is measured by
this process around the child, interpreter start-up and exit included (what a
Lambda init + first invoke pays); each child also reports its own import and
handling time. Every run handles a new, newer successful build of its own
preset, so each one really writes the record and the parameter.

Also here: the library's own import time from ``python -X importtime``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

from attrs import frozen

from bench.common import at, eventbridge_event, median, table
from bench.server import BenchServer
from bench.world import World, environment, preset_ami, preset_build

HERE = Path(__file__).resolve().parent
AMISTATE_CHILD = HERE / "cold_amistate.py"
BOTO3_CHILD = HERE / "cold_boto3.py"
TABLE = "amistate-cold"
BUDGET = 1.15
AIM = 1.05


@frozen
class Run:
    wall: float
    inner: Mapping[str, float]
    calls: int


def child_env(server: BenchServer) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {**keep, **server.env(), "AMISTATE_TABLE": TABLE, "PYTHONHASHSEED": "0"}


def run_child(script: Path, event: Mapping[str, object], env: Mapping[str, str]) -> Run:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(script), json.dumps(event)],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{script.name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    inner: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return Run(wall, inner, 0)


@frozen
class ColdResult:
    amistate: list[Run]
    boto3: list[Run]
    proposed: list[Run]  # amistate with one shared boto3 Session (simulated)
    patched: list[Run]  # amistate with every patch of bench/proposals applied
    ratio: float
    inner_ratio: float
    proposed_ratio: float
    patched_ratio: float | None
    patched_note: str
    ssm_ami_ok: bool


def measure(
    server: BenchServer, runs: int = 15, patched_path: str | None = None, note: str = ""
) -> ColdResult:
    """``runs`` cold invocations of each kind, interleaved, after one warm-up of each.

    ``patched_path`` (from :func:`bench.proposed.tree`) adds a fourth kind: the
    amistate child on the tree with every patch of bench/proposals applied.
    """
    env = child_env(server)
    shared = {**env, "BENCH_SHARED_SESSION": "1"}
    ours, theirs, proposal, patched = 1, 2, 3, 4  # one preset per kind of child
    with environment({**server.env(), "AMISTATE_TABLE": TABLE}):
        world = World(TABLE, TABLE + "-baseline")
        try:
            world.create_tables()
            for preset in (ours, theirs, proposal, patched):
                world.add_preset(preset)
        finally:
            world.close()
    results: dict[str, list[Run]] = defaultdict(list)
    server.calls()
    for n in range(runs + 1):  # n == 0 warms the page cache and writes .pyc files
        order = [
            ("amistate", AMISTATE_CHILD, ours, env),
            ("boto3", BOTO3_CHILD, theirs, env),
            ("proposed", AMISTATE_CHILD, proposal, shared),
        ]
        if patched_path is not None:
            variables = {**env, "PYTHONPATH": patched_path}
            order.append(("patched", AMISTATE_CHILD, patched, variables))
        if n % 2:
            order.reverse()
        for name, script, preset, variables in order:
            event = eventbridge_event(preset_build(preset, n + 1), "AVAILABLE", at(60 * (n + 1)))
            run = run_child(script, event, variables)
            calls = len(server.calls())
            if n:
                results[name].append(Run(run.wall, run.inner, calls))
    with environment({**server.env(), "AMISTATE_TABLE": TABLE}):
        world = World(TABLE, TABLE + "-baseline")
        try:
            ssm_ok = world.parameter(ours)["amiId"] == preset_ami(ours, runs + 1)
        finally:
            world.close()
    a, b, p = results["amistate"], results["boto3"], results["proposed"]
    all_patches = results.get("patched", [])
    base = median(r.wall for r in b)
    ratio = median(r.wall for r in a) / base
    inner = median(r.inner["total"] for r in a) / median(r.inner["total"] for r in b)
    proposed = median(r.wall for r in p) / base
    patched_ratio = median(r.wall for r in all_patches) / base if all_patches else None
    return ColdResult(a, b, p, all_patches, ratio, inner, proposed, patched_ratio, note, ssm_ok)


def render(result: ColdResult) -> str:
    def ms(values: Sequence[float]) -> str:
        return f"{median(values) * 1000:.0f} ms"

    rows = []
    variants = (
        ("amistate handler", result.amistate),
        ("boto3 by hand (same clients, same 6 calls)", result.boto3),
        ("amistate, proposed: one shared boto3 Session (simulated)", result.proposed),
        ("amistate with every patch of bench/proposals", result.patched),
    )
    for name, runs in variants:
        if not runs:
            continue
        rows.append(
            (
                name,
                len(runs),
                ms([r.wall for r in runs]),
                ms([r.inner["import"] for r in runs]),
                ms([r.inner["handle"] for r in runs]),
                ms([r.inner["total"] for r in runs]),
                "/".join(sorted({str(r.calls) for r in runs})),
            )
        )
    verdict = "holds" if result.ratio <= BUDGET else "**missed**"
    aim = "met" if result.ratio <= AIM else "not met"
    text = table(
        [
            "cold invocation (fresh interpreter)",
            "runs",
            "wall, median",
            "imports (in process)",
            "first event (in process)",
            "script total (in process)",
            "AWS calls",
        ],
        rows,
    )
    text += (
        f"\n\nRatio of medians (wall, start-up and exit included): **{result.ratio:.3f}** "
        f"(budget ≤ {BUDGET}: {verdict}; aim ≤ {AIM}: {aim}). "
        f"In-process ratio (script total): {result.inner_ratio:.3f}. "
        f"With the proposed shared Session: {result.proposed_ratio:.3f}. "
        + (
            f"With every patch of bench/proposals: {result.patched_ratio:.3f}. "
            if result.patched_ratio is not None
            else f"bench/proposals: {result.patched_note}. "
        )
        + "SSM amiId after the last amistate run is that build's AMI: "
        + ("yes." if result.ssm_ami_ok else "**no**.")
    )
    return text


# --- import time --------------------------------------------------------------------------

_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def import_times(code: str, path: str | None = None) -> list[tuple[str, int, int, int]]:
    """(module, self µs, cumulative µs, depth) for every import ``code`` makes."""
    extra = {"PYTHONPATH": path} if path else {}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "PYTHONHASHSEED": "0", **extra},
    )
    found = []
    for line in done.stderr.splitlines():
        match = _LINE.match(line)
        if match:
            self_us, cumulative, indent, module = match.groups()
            found.append((module, int(self_us), int(cumulative), len(indent) // 2))
    return found


def _group(module: str) -> str:
    top = module.split(".")[0]
    if top in {"amistate", "amistate_adapters", "attr", "attrs", "cattrs", "typing_extensions"}:
        return {"attr": "attrs", "typing_extensions": "typing_extensions (cattrs)"}.get(top, top)
    if top in {"boto3", "botocore", "urllib3", "jmespath", "dateutil", "s3transfer", "six"}:
        return "boto3 and its dependencies"
    return "standard library"


def import_report(repeats: int = 5, patched_path: str | None = None) -> str:
    """What importing the handler costs, alone and on top of boto3 (medians of ``repeats``)."""
    after = (
        "import boto3, botocore.exceptions; import amistate.shims.lambda_handler; "
        "import amistate_adapters.wiring"
    )
    cases: dict[str, tuple[str, str | None]] = {
        "handler alone": ("import amistate.shims.lambda_handler", None),
        "handler after boto3": ("import boto3; import amistate.shims.lambda_handler", None),
        "handler + adapters after boto3": (after, None),
    }
    if patched_path is not None:
        cases["handler + adapters after boto3, with bench/proposals"] = (after, patched_path)
    sections = []
    for label, (code, path) in cases.items():
        totals: dict[str, list[int]] = defaultdict(list)
        first = code.split(";")[0].removeprefix("import ").split(",")[0].strip()
        for _ in range(repeats):
            sums: dict[str, int] = defaultdict(int)
            measured = import_times(code, path)
            skip = label != "handler alone"
            for module, self_us, _cumulative, _depth in measured:
                if skip:
                    if module == first:
                        skip = False
                    continue
                sums[_group(module)] += self_us
            for group, value in sums.items():
                totals[group].append(value)
        rows = sorted(
            ((group, median(values) / 1000) for group, values in totals.items()),
            key=lambda row: -row[1],
        )
        total = sum(value for _, value in rows)
        scope = "every module" if label == "handler alone" else f"modules imported after `{first}`"
        sections.append(
            f"**{label}** (`{code}`; {scope}): {total:.1f} ms\n\n"
            + table(["modules", "self time, ms (median)"], [(g, f"{v:.1f}") for g, v in rows])
        )
    top = _top_modules("import boto3; import amistate.shims.lambda_handler", "boto3", 12)
    sections.append(
        "Largest single modules imported by the handler on top of boto3 (self time, one run):\n\n"
        + table(["module", "self, ms", "cumulative, ms"], top)
    )
    return "\n\n".join(sections)


def _top_modules(code: str, after: str, count: int) -> list[tuple[str, str, str]]:
    measured = import_times(code)
    index = next(i for i, row in enumerate(measured) if row[0] == after)
    rest = sorted(measured[index + 1 :], key=lambda row: -row[1])[:count]
    return [(m, f"{s / 1000:.1f}", f"{c / 1000:.1f}") for m, s, c, _ in rest]


def run(server: BenchServer, runs: int = 15, import_repeats: int = 5) -> tuple[str, ColdResult]:
    from bench import proposed

    with proposed.tree() as (path, note):
        result = measure(server, runs, path, note)
        text = render(result) + "\n\n" + import_report(import_repeats, path)
    return text, result


if __name__ == "__main__":
    with BenchServer() as bench_server:
        print(run(bench_server)[0])
