"""The source tree with the patches of bench/proposals/ applied, in a temporary folder.

The benchmarks measure the code as it is; this lets them also measure the
proposed changes (docs/performance.md, "The proposed changes") on the same run,
by putting the patched copies of ``src`` and ``adapters`` first on a child
interpreter's ``PYTHONPATH``. When a patch no longer applies (its module has
moved on), the proposal rows say so instead of failing the run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common import ROOT

PROPOSALS = Path(__file__).resolve().parent / "proposals"


@contextmanager
def tree() -> Iterator[tuple[str | None, str]]:
    """Yield (PYTHONPATH of the patched tree or None, what happened)."""
    with tempfile.TemporaryDirectory(prefix="amistate-proposed-") as folder:
        base = Path(folder)
        for part in ("src", "adapters"):
            shutil.copytree(ROOT / part, base / part, ignore=shutil.ignore_patterns("__pycache__"))
        patches = sorted(str(p) for p in PROPOSALS.glob("*.diff"))
        if not patches:
            # Every proposal was applied or declined; without patches `git apply`
            # would read standard input.
            yield None, "no proposals pending (bench/proposals is empty)"
            return
        if shutil.which("git") is None:
            yield None, "git not found: cannot apply bench/proposals"
            return
        done = subprocess.run(
            ["git", "apply", *patches], cwd=base, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            yield None, "bench/proposals no longer apply: " + done.stderr.strip()[:300]
            return
        path = os.pathsep.join([str(base / "src"), str(base / "adapters"), str(ROOT)])
        yield path, f"{len(patches)} patches applied"


def run_json(module: str, *args: str) -> tuple[object | None, str]:
    """Run ``python -m <module> --json <args>`` on the patched tree; return its last
    stdout line parsed as JSON (or None) and what happened."""
    with tree() as (path, note):
        if path is None:
            return None, note
        done = subprocess.run(
            [sys.executable, "-m", module, "--json", *args],
            env={**os.environ, "PYTHONPATH": path},
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if done.returncode != 0:
            return None, "proposed tree failed: " + done.stderr.strip()[-300:]
        return json.loads(done.stdout.strip().splitlines()[-1]), note
