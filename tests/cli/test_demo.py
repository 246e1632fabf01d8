"""``amistate demo``: runs offline with no AWS settings at all, exits 0, shows every case."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def _bare_environment() -> dict[str, str]:
    """No AWS or amistate variables at all; an unroutable proxy to prove nothing leaves."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AMISTATE_"))}
    env["HTTPS_PROXY"] = env["HTTP_PROXY"] = "http://192.0.2.1:9"  # TEST-NET-1: unreachable
    return env


def test_demo_plays_the_timeline_and_checks_itself() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "amistate.cli.main", "demo", "--json"],
        env=_bare_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
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


def test_demo_text_output_is_a_readable_timeline() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "amistate.cli.main", "demo"],
        env=_bare_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "timeline of" in out
    assert "applied-ami" in out
    assert "final state" in out
    assert "all invariants hold" in out
    assert "  FAIL  " not in out
    assert "Traceback" not in done.stderr
