"""``amistate demo``: runs offline with no AWS settings at all, exits 0, shows every case,
and prints what the README shows (tests/cli/readme_demo.py)."""

from __future__ import annotations

import difflib
import json
import subprocess

import pytest

from tests.cli.readme_demo import normalised, readme_block, run_demo


@pytest.fixture(scope="module")
def text_run() -> subprocess.CompletedProcess[str]:
    """One real run of the text demo, as ``make demo`` runs it, for every test below."""
    done = run_demo()
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_demo_plays_the_timeline_and_checks_itself() -> None:
    done = run_demo("--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert all(check["ok"] for check in report["checks"])
    decisions = [line["decision"] for line in report["timeline"]]
    assert {"applied", "applied-ami", "stale", "duplicate", "ignored"} <= set(decisions)
    assert {line["via"] for line in report["timeline"]} == {"EventBridge", "SNS", "SQS"}
    final = {row["preset"]: row for row in report["final"]}
    assert set(final) == {"linux-x64", "linux-arm64"}
    for row in final.values():
        assert row["amiId"] == row["ssmAmiId"]
        assert row["drift"] is False


def test_demo_text_output_is_a_readable_timeline(
    text_run: subprocess.CompletedProcess[str],
) -> None:
    out = text_run.stdout
    assert "timeline of" in out
    assert "applied-ami" in out
    assert "final state" in out
    assert "all invariants hold" in out
    assert "  FAIL  " not in out
    assert "Traceback" not in text_run.stderr


def test_make_demo_says_how_to_reach_the_command_from_a_shell(
    text_run: subprocess.CompletedProcess[str],
) -> None:
    """``make demo`` runs .venv/bin/amistate; a fresh shell finds no ``amistate``."""
    last = text_run.stdout.rstrip().splitlines()[-2:]
    assert last == [
        "the amistate command is in .venv/bin, which is not on your PATH: run "
        "`. .venv/bin/activate` (or call",
        ".venv/bin/amistate), then try the other commands on a local world: `amistate sandbox`",
    ]


def test_the_readme_shows_a_real_run(text_run: subprocess.CompletedProcess[str]) -> None:
    """Regenerate the block with ``python -m tests.cli.readme_demo`` when the demo changes."""
    shown, real = normalised(readme_block()), normalised(text_run.stdout)
    diff = "\n".join(difflib.unified_diff(shown.splitlines(), real.splitlines(), "README", "run"))
    assert shown == real, diff
