"""One quick run of every benchmark script at tiny sizes: they work, end to end.

No timing is asserted (figures at these sizes mean nothing); the run fails
only if a script breaks or a correctness check inside it fails (amistate
ordering violations, call counts that disagree with the handler's own log).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_runs_end_to_end_at_smoke_sizes(tmp_path: Path) -> None:
    report = tmp_path / "bench.md"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in list(env):
        if name.startswith("AWS_"):
            del env[name]
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--json", "--output", str(report)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    # --json: stdout is one JSON object; every budget has its figure, budget and verdict.
    figures = json.loads(done.stdout)
    assert {b["verdict"] for b in figures["budgets"]} <= {"pass", "fail"}
    assert all({"name", "figure", "budget", "verdict"} <= set(b) for b in figures["budgets"])
    assert set(figures["figures"]) >= {"calls", "cold", "core", "scale", "storm", "reconcile"}
    # Progress on stderr; not one metric document or decision line of the functions.
    assert "bench: [7/7] reconcile done" in done.stderr
    # (the functions print compact JSON lines: {"_aws":... and {"decision":...)
    assert '{"_aws":' not in done.stdout + done.stderr
    assert '{"decision":' not in done.stdout + done.stderr
    text = report.read_text()
    for heading in (
        "### Machine",
        "### 1. AWS calls per cold invocation",
        "### 2. Cold invocation",
        "### 3. Warm latency",
        "### 4. Pure-core throughput",
        "### 5. Scale",
        "### 6. Storm",
        "### 7. The reconciler at scale",
        "deployment package with bytecode",
        "deployment package without bytecode",
        "### Budgets",
    ):
        assert heading in text
    assert "| success via EventBridge (GetImage needed) | applied | 6 |" in text
    assert "| amistate | 80 | 8 | 4 |" in text
    shipped = "before: standard, 4 attempts + SSM writes paced within the remaining time"
    assert f"| {shipped} | 2/2 |" in text
    assert "| after: SQS queue, maximum concurrency 2, batches, paced writes | 2/2 |" in text
    assert "performance-storm.svg" in text
    # Smoke sizes: the reconciler's world with target accounts only (on moto).
    assert "| moto, 3 target accounts | no change | 10 |" in text
    assert "| moto, 3 target accounts | 10% repair | 10 |" in text
    # Target accounts: calls per success with 1 and 3 (cold: one AssumeRole per account).
    assert "### 1b. AWS calls per success with target accounts" in text
    assert "| 3 | cold | 15 |" in text
    names = {b["name"]: b["verdict"] for b in figures["budgets"]}
    assert "calls: success via EventBridge, 3 target accounts, cold" in names
    quiet = "reconciler, no-change run on moto, 3 target accounts: AWS calls per preset and account"
    assert quiet in names
