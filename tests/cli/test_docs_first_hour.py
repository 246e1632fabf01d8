"""What the docs tell a new user in the first hour is what works (issue 23, points 6 and 7)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    ROOT / "README.md",
    ROOT / "examples" / "cdk" / "README.md",
    *sorted(ROOT.glob("docs/*.md")),
]
SOURCES = sorted((ROOT / "src").rglob("*.py"))
#: An install from an index: amistate is not published there.
FROM_AN_INDEX = re.compile(r"""pip install +['"]?amistate\b""")


def _section(text: str, title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no section {title!r}"
    return match.group(1)


def test_nothing_says_pip_install_amistate_which_is_not_published() -> None:
    said = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in [*DOCS, *SOURCES]
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if FROM_AN_INDEX.search(line) and "is not published" not in line
    ]
    assert said == []


def test_the_quick_start_says_how_to_install_and_reach_the_command() -> None:
    quick = _section((ROOT / "README.md").read_text(encoding="utf-8"), "Quick start")
    assert ". .venv/bin/activate" in quick
    assert ".venv/bin/amistate" in quick
    assert "pip install -e '.[demo]'" in quick
    assert "pip wheel --no-deps -w dist ." in quick


def test_the_demo_without_its_extra_says_how_to_install_it_from_the_clone() -> None:
    script = (
        "import sys; sys.modules['moto'] = None\n"
        "from amistate.cli.main import main\n"
        "sys.exit(main(['demo']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert done.stderr.startswith("amistate: error: the demo needs moto, the 'demo' extra:")
    assert "pip install -e '.[demo]'" in done.stderr
    assert "pip install 'amistate" not in done.stderr


def test_launchers_are_shown_runner_ami_only() -> None:
    """Not ``read.latest(p).ami_id`` (the newest good AMI, not the pinned one) nor the
    parameter's ``amiId`` through ``preset_config``."""
    wrong = re.compile(r"latest\([^)]*\)\.ami_id|preset_config\([^)]*\)\[.amiId.\]")
    shown = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in DOCS
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if wrong.search(line)
    ]
    assert shown == []
    for name in ("README.md", "docs/cli.md", "docs/configuration.md"):
        assert "runner_ami" in (ROOT / name).read_text(encoding="utf-8"), name
