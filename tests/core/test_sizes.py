"""Small modules and short functions stay that way: none over the limits below.

Tests and the bench are exempt; the shipped code (``src/``, ``adapters/``) is not, and
neither are the examples (``examples/``): users copy them.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules() -> list[Path]:
    roots = ("src", "adapters", "examples")
    return sorted(
        p for root in roots for p in (ROOT / root).rglob("*.py") if "cdk.out" not in p.parts
    )


def test_the_examples_are_measured() -> None:
    assert ROOT / "examples" / "cdk" / "amistate_cdk" / "construct.py" in _modules()


def long_functions(path: Path, root: Path = ROOT) -> list[str]:
    """``path:line name (n lines)`` for each function over the limit."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = (node.end_lineno or node.lineno) - first + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_module_is_over_the_limit() -> None:
    lines = {p: len(p.read_text(encoding="utf-8").splitlines()) for p in _modules()}
    assert [f"{p.relative_to(ROOT)} ({n})" for p, n in lines.items() if n > MAX_MODULE_LINES] == []


def test_no_function_is_over_the_limit() -> None:
    assert [entry for path in _modules() for entry in long_functions(path)] == []


def test_the_check_can_fail(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    long = tmp_path / "probe.py"
    long.write_text(f"def f() -> None:\n{body}\n")
    assert long_functions(long, tmp_path) == ["probe.py:1 f (61 lines)"]
