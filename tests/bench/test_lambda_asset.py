"""`make lambda-asset`: bytecode for the declared runtime, deterministic, and what Lambda imports.

The package is built twice, from two snapshots of the sources at two different
paths (the working tree may be edited while the tests run). Then:

* ``RUNTIME`` names the runtime of the interpreter that built it (the default);
* every module has a ``.pyc`` for that runtime: its magic number is that
  interpreter's ``importlib.util.MAGIC_NUMBER``, it is an unchecked-hash pyc,
  and it was compiled from the source shipped beside it (not stale);
* the two builds are byte-for-byte the same tree (same CDK asset hash);
* in a read-only copy whose every ``.py`` is replaced by code that raises, a
  fresh interpreter (no site, ``-B``) still imports the handler and the
  adapters: what runs is the shipped bytecode, nothing is compiled.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TAG = sys.implementation.cache_tag  # e.g. cpython-311
#: Top-level packages and modules the asset must hold, all with bytecode.
SHIPPED = ("amistate", "amistate_adapters", "attr", "attrs", "cattrs", "typing_extensions")
POISON = 'raise ImportError("compiled from source: the shipped bytecode was not used")\n'


def _snapshot(to: Path) -> Path:
    """The files the wheel is built from, copied (no caches)."""
    to.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, to / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "src", to / "src", ignore=ignore)
    shutil.copytree(ROOT / "adapters", to / "adapters", ignore=ignore)
    return to


def _build(source: Path, asset: Path) -> None:
    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-s",
            "-o",
            ".venv/.dev",  # never reinstall the dev venv from here
            "lambda-asset",
            f"LAMBDA_SOURCE={source}",
            f"LAMBDA_ASSET={asset}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _sources(asset: Path) -> list[Path]:
    found: list[Path] = []
    for name in SHIPPED:
        if (asset / name).is_dir():
            found += sorted((asset / name).rglob("*.py"))
        else:
            found.append(asset / f"{name}.py")
    return found


def _set_writable(folder: Path, writable: bool) -> None:
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
        path.chmod((mode | stat.S_IWUSR) if writable else (mode & ~bits))


def test_asset_ships_deterministic_bytecode_of_its_runtime_and_lambda_imports_it(
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    source = _snapshot(tmp_path / "source-a")
    _build(source, first)
    other = tmp_path / "elsewhere" / "source-b"  # another checkout path: same package
    other.parent.mkdir()
    shutil.copytree(source, other)
    _build(other, second)

    # The declared runtime is the building interpreter's (the default LAMBDA_PYTHON).
    runtime = (first / "RUNTIME").read_text()
    assert re.fullmatch(r"python3\.\d+\n", runtime), runtime
    assert runtime == f"python{sys.version_info.major}.{sys.version_info.minor}\n"

    # Every shipped module has current, unchecked-hash bytecode for that runtime.
    sources = _sources(first)
    assert len(sources) > 50, sources
    for path in sources:
        cached = Path(importlib.util.cache_from_source(str(path)))
        assert cached.name.endswith(f".{TAG}.pyc"), cached
        data = cached.read_bytes()
        assert data[:4] == importlib.util.MAGIC_NUMBER, (path, data[:4])
        assert int.from_bytes(data[4:8], "little") == 0b01, (path, "not unchecked-hash")
        assert data[8:16] == importlib.util.source_hash(path.read_bytes()), (path, "stale")
    leftovers = [p for p in first.rglob("*.pyc") if f".{TAG}." not in p.name]
    assert not leftovers, leftovers

    # Deterministic: the same tree, byte for byte, from another build at another path.
    assert _tree_hash(first) == _tree_hash(second)

    # What Lambda imports is the bytecode: every source poisoned, the package read-only.
    for path in sources:
        path.write_text(POISON)
    _set_writable(first, False)
    try:
        boto3_dir = sysconfig.get_paths()["purelib"]  # boto3 comes from the runtime, after
        code = (
            "import sys; "
            f"sys.path[:0] = [{str(first)!r}]; sys.path.append({boto3_dir!r}); "
            "import amistate.shims.lambda_handler as h, amistate_adapters.wiring; "
            "assert callable(h.handler); "
            f"mods = [m for m in list(sys.modules.values()) "
            f"if (getattr(m, '__file__', None) or '').startswith({str(first)!r})]; "
            "assert all(m.__spec__.cached and m.__spec__.has_location for m in mods); "
            "print(len(mods), sys.flags.dont_write_bytecode)"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        done = subprocess.run(
            [sys.executable, "-S", "-E", "-B", "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=env,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        loaded, no_write = done.stdout.split()
        assert int(loaded) > 20 and no_write == "1", done.stdout
        assert not [p for p in first.rglob("__pycache__/*") if f".{TAG}." not in p.name]
    finally:
        _set_writable(first, True)
