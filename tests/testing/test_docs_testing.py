"""docs/testing.md's example (a user's launcher Lambda and its tests) runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "testing.md"


def files_in_the_doc() -> dict[str, str]:
    """Each python block whose first line is ``# <name>.py``, by name."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    named = {}
    for block in blocks:
        first = block.splitlines()[0]
        match = re.fullmatch(r"# (\w+\.py)", first)
        if match:
            named[match.group(1)] = block
    return named


def test_the_launcher_example_passes_as_a_user_runs_it(tmp_path: Path) -> None:
    files = files_in_the_doc()
    assert sorted(files) == ["conftest.py", "launcher.py", "test_launcher.py"]
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AMISTATE_"))}
    env["PYTHONPATH"] = ""  # the user's folder and the installed amistate, nothing of ours
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "3 passed" in done.stdout
