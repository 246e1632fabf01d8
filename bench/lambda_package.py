"""The deployment package and an interpreter like Lambda's, for the cold benchmarks.

* :func:`runtime_python`: a venv under ``.bench-runtime/`` (git-ignored) of the
  same Python as the bench, whose site-packages hold only boto3 and its
  dependencies, at the versions the bench itself uses (as the Lambda runtime
  provides boto3). Created once, reused while the versions match.
* :func:`packages`: ``make lambda-asset`` built into a temporary folder, in two
  read-only copies (``chmod -R a-w``): as built (with bytecode) and with its
  ``__pycache__`` folders removed (the package before issue 16, ``--no-compile``).

Children then run with ``PYTHONDONTWRITEBYTECODE=1`` and ``PYTHONPATH=<package>``,
so nothing is compiled into a cache between runs: each cold start pays what
Lambda's would.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from attrs import frozen

from bench.common import ROOT

RUNTIME_DIR = ROOT / ".bench-runtime"
VENV = RUNTIME_DIR / "venv"


def _versions() -> dict[str, str]:
    import boto3
    import botocore

    return {"boto3": boto3.__version__, "botocore": botocore.__version__}


def runtime_python() -> Path:
    """The boto3-only interpreter (created or refreshed when needed)."""
    python = VENV / "bin" / "python"
    wanted = _versions()
    stamp = VENV / "bench-versions"
    expected = " ".join(f"{k}=={v}" for k, v in sorted(wanted.items()))
    if python.exists() and stamp.exists() and stamp.read_text() == expected:
        return python
    shutil.rmtree(VENV, ignore_errors=True)
    RUNTIME_DIR.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(VENV)], check=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
        + [f"{name}=={version}" for name, version in sorted(wanted.items())],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stamp.write_text(expected)
    return python


def runtime_distributions(python: Path) -> list[str]:
    """The distributions installed in the runtime venv (for the report)."""
    code = (
        "import importlib.metadata as m; "
        "print(' '.join(sorted(d.metadata['Name'].lower() for d in m.distributions())))"
    )
    done = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.split()


@frozen
class Packages:
    bytecode: Path  # as `make lambda-asset` builds it
    source_only: Path  # the same without __pycache__
    runtime: str  # the RUNTIME file's line
    pyc_files: int


def _read_only(folder: Path, writable: bool = False) -> None:
    bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod((mode | stat.S_IWUSR) if writable else (mode & ~bits))


@contextmanager
def packages() -> Iterator[Packages]:
    """The deployment package, built now from this tree, in two read-only copies."""
    with tempfile.TemporaryDirectory(prefix="amistate-asset-") as folder:
        base = Path(folder)
        built = base / "bytecode"
        done = subprocess.run(
            [
                *("make", "--no-print-directory", "-s", "-o", ".venv/.dev", "lambda-asset"),
                f"LAMBDA_ASSET={built}",
                f"LAMBDA_PYTHON={sys.executable}",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"make lambda-asset failed:\n{done.stderr[-3000:]}")
        bare = base / "source-only"
        shutil.copytree(built, bare, ignore=shutil.ignore_patterns("__pycache__"))
        result = Packages(
            built,
            bare,
            (built / "RUNTIME").read_text().strip(),
            sum(1 for _ in built.rglob("*.pyc")),
        )
        _read_only(built)
        _read_only(bare)
        try:
            yield result
        finally:
            _read_only(built, writable=True)
            _read_only(bare, writable=True)


def package_env(base: Mapping[str, str], package: Path) -> dict[str, str]:
    """A child's environment on the Lambda-like interpreter: the package first, no .pyc writes."""
    return {**base, "PYTHONPATH": str(package), "PYTHONDONTWRITEBYTECODE": "1"}


def python_tag(python: Path) -> str:
    done = subprocess.run(
        [str(python), "-c", "import sys; print('python%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
    )
    return done.stdout.strip()
