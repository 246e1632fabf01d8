"""The README's demo output block, and a real run of ``make demo`` to hold it against.

``tests/cli/test_demo.py`` checks that the block equals a real run's output, up
to what changes from run to run (:func:`normalised`). After a change to what the
demo prints, regenerate the block from a real run::

    .venv/bin/python -m tests.cli.readme_demo
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
#: The block: the first ```text fence of the section "## Demo output".
SECTION = re.compile(r"(^## Demo output\n.*?^```text\n)(.*?)(^```$)", re.M | re.S)
PORT = re.compile(r"http://127\.0\.0\.1:(?:\d+|<port>)")
AMI = re.compile(r"\bami-[0-9a-f]{8,17}\b")
#: The two invocations that race: either may come first, and the loser may write SSM.
RACE_ROW = re.compile(
    r"^( +(?:9|10) +18:00 +linux-x64 +1\.0\.0/[45] +AVAILABLE +EventBridge)"
    r" +(applied|stale) +(ami-\S+) +(ami-\S+)(?: \(written\))?$",
    re.M,
)
#: Build 4 of the race, fed into the history by the reconcile run when it lost the race.
RACE_FEED = "feed linux-x64, "
WHERE = re.compile(r"the amistate command is in (\S+), which is not on your PATH")


def demo_environment() -> dict[str, str]:
    """What ``make demo`` meets: no AWS or amistate variables, the venv not on PATH; an
    unroutable proxy besides, to prove nothing leaves the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AMISTATE_"))}
    env["HTTPS_PROXY"] = env["HTTP_PROXY"] = "http://192.0.2.1:9"  # TEST-NET-1: unreachable
    ours = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != ours)
    return env


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    """``amistate demo ARGS`` from the repository's root, as ``make demo`` runs it."""
    return subprocess.run(
        [sys.executable, "-m", "amistate.cli.main", "demo", *args],
        cwd=ROOT,
        env=demo_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def readme_block() -> str:
    match = SECTION.search(README.read_text(encoding="utf-8"))
    assert match, "README.md has no ```text block under '## Demo output'"
    return match.group(2)


def normalised(output: str) -> str:
    """``output`` without what differs between runs: ports, moto's random AMI IDs (named
    by first appearance), the run's duration, the venv's folder, and the race's outcome."""
    where = WHERE.search(output)
    if where:
        output = output.replace(where.group(1), ".venv/bin")
    output = PORT.sub("http://127.0.0.1:<port>", output)
    output = RACE_ROW.sub(r"\1 <applied|stale> \3 \4", output)
    output = output.replace(RACE_FEED, "")
    output = re.sub(r"deliveries in \d+\.\d s$", "deliveries in <n> s", output, flags=re.M)
    names: dict[str, str] = {}
    return AMI.sub(lambda m: names.setdefault(m.group(0), f"ami-<{len(names) + 1}>"), output)


def main() -> int:
    """Rewrite the README's block from a real run (ports shown as ``<port>``)."""
    done = run_demo()
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        return 1
    block = PORT.sub("http://127.0.0.1:<port>", done.stdout)
    text = README.read_text(encoding="utf-8")
    README.write_text(SECTION.sub(lambda m: m.group(1) + block + m.group(3), text, count=1))
    print(f"{README}: demo output block rewritten from a real run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
