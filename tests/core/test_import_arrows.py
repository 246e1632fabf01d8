"""Import discipline: the event Lambda's cold start and the dependency arrows.

Each check runs in a fresh interpreter, so nothing another test imported counts.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest


def _loaded_after(statement: str) -> list[str]:
    code = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    modules: list[str] = json.loads(done.stdout.splitlines()[-1])
    return modules


def test_the_event_handler_imports_no_deployer_cli_demo_or_sdk() -> None:
    loaded = _loaded_after("import amistate.shims.lambda_handler")
    unwanted = (
        "amistate.deploy",
        "amistate.cli",
        "amistate.demo",
        "amistate.testing",
        "boto3",
        "botocore",
    )
    assert [m for m in loaded if m.startswith(unwanted)] == []


CORE = ["amistate.read", "amistate.service", "amistate.settings", "amistate.compose"]


@pytest.mark.parametrize(
    "module",
    [
        "amistate.read",
        "amistate.service",
        "amistate.settings",
        "amistate.compose",
        "amistate.rules",
    ],
)
def test_read_and_the_core_import_nothing_from_the_shims(module: str) -> None:
    assert [m for m in _loaded_after(f"import {module}") if m.startswith("amistate.shims")] == []


SRC = Path(__file__).resolve().parents[2] / "src"


def _imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_only_the_demo_imports_the_test_kit_and_the_kit_never_the_demo() -> None:
    """amistate.testing is for tests (and the demo's showcase); it must not ship into a
    Lambda's path, and it must not depend on the demo."""
    wrong = []
    for path in sorted((SRC / "amistate").rglob("*.py")):
        package = path.relative_to(SRC).parts[1]
        for name in _imported(path):
            kit = name == "amistate.testing" or name.startswith("amistate.testing.")
            demo = name == "amistate.demo" or name.startswith("amistate.demo.")
            if kit and package not in ("testing", "demo"):
                wrong.append(f"{path.relative_to(SRC)} imports {name}")
            if demo and package == "testing":
                wrong.append(f"{path.relative_to(SRC)} imports {name}")
    assert wrong == []
