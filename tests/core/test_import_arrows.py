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
        "amistate.usecases.deploy",
        "amistate.cli",
        "amistate.demo",
        "amistate.testing",
        "boto3",
        "botocore",
    )
    assert [m for m in loaded if m.startswith(unwanted)] == []


CORE = [
    "amistate.read",
    "amistate.usecases.service",
    "amistate.core.settings",
    "amistate.wiring.compose",
]


@pytest.mark.parametrize(
    "module",
    [
        "amistate.read",
        "amistate.usecases.service",
        "amistate.core.settings",
        "amistate.wiring.compose",
        "amistate.core.rules",
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


EXAMPLES = SRC.parent / "examples"
#: What a deployment of amistate may take from it: plain facts (names, settings,
#: in-use tag keys), never its entry points, adapters, test kit or demo.
EXAMPLE_MAY_NOT_IMPORT = (
    "amistate.shims",
    "amistate.cli",
    "amistate.demo",
    "amistate.testing",
    "amistate_adapters",
    "boto3",
)


def _module_level_relative(path: Path) -> set[str]:
    """The sibling modules ``path`` imports when it is imported (not under TYPE_CHECKING)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                names.add(node.module.split(".")[0])
            else:
                names.update(alias.name for alias in node.names)
    return names


def test_the_examples_use_amistate_as_a_library() -> None:
    wrong = [
        f"{path.relative_to(EXAMPLES)} imports {name}"
        for path in sorted(EXAMPLES.rglob("*.py"))
        if "cdk.out" not in path.parts  # cdk synth's copy of the Lambda package
        for name in sorted(_imported(path))
        if name.startswith(EXAMPLE_MAY_NOT_IMPORT)
    ]
    assert wrong == []


def test_the_cdk_example_modules_import_each_other_without_cycles() -> None:
    package = EXAMPLES / "cdk" / "amistate_cdk"
    graph = {path.stem: _module_level_relative(path) for path in package.glob("*.py")}
    assert graph["construct"], "the construct imports the modules that build its parts"

    def cycle_from(start: str, seen: tuple[str, ...]) -> tuple[str, ...] | None:
        for child in sorted(graph.get(start, ())):
            if child in seen:
                return (*seen, child)
            found = cycle_from(child, (*seen, child))
            if found:
                return found
        return None

    cycles = [c for name in sorted(graph) if (c := cycle_from(name, (name,)))]
    assert cycles == []


#: The rings of ``src/amistate``, innermost first; a module imports only from its
#: own ring or an inner one (docs/architecture.md). ``errors`` is the shared vocabulary.
RINGS = {"errors": 0, "core": 0, "ports": 1, "usecases": 2, "wiring": 3}
ENTRY = 4  # shims, cli, read, demo, testing and the package itself
ADAPTERS = Path(__file__).resolve().parents[2] / "adapters" / "amistate_adapters"


def _ring(module: str) -> int:
    parts = module.split(".")
    if parts[0] == "amistate_adapters":
        return 3  # beside the composition root: it builds AWS runtimes
    return RINGS.get(parts[1], ENTRY) if len(parts) > 1 else ENTRY


def _module(path: Path) -> str:
    root = SRC if path.is_relative_to(SRC) else ADAPTERS.parent
    dotted = ".".join(path.relative_to(root).with_suffix("").parts)
    return dotted.removesuffix(".__init__")


def _wrong(here: str, name: str) -> bool:
    if here.startswith("amistate_adapters"):
        return _ring(name) == ENTRY  # the adapters never reach the entry points
    if name.startswith("amistate_adapters"):
        return _ring(here) < ENTRY  # only the entry points build AWS runtimes
    return _ring(name) > _ring(here)


def test_every_import_points_inward_through_the_rings() -> None:
    files = [*sorted((SRC / "amistate").rglob("*.py")), *sorted(ADAPTERS.rglob("*.py"))]
    wrong = [
        f"{_module(path)} imports {name}"
        for path in files
        for name in sorted(_imported(path))
        if name.startswith(("amistate.", "amistate_adapters")) and _wrong(_module(path), name)
    ]
    assert wrong == [], "\n".join(wrong)


def test_the_rings_are_folders() -> None:
    """Nothing but the public entry modules sits flat in the package."""
    flat = sorted(p.stem for p in (SRC / "amistate").glob("*.py"))
    assert flat == ["__init__", "errors", "read"]
