"""Import discipline: the event Lambda's cold start and the dependency arrows.

Each check runs in a fresh interpreter, so nothing another test imported counts.
"""

from __future__ import annotations

import json
import subprocess
import sys

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
    unwanted = ("amistate.deploy", "amistate.cli", "amistate.demo", "boto3", "botocore")
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
