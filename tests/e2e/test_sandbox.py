"""docs/getting-started.md's local session, run command by command as a user would.

``amistate sandbox`` runs in a subprocess; the test waits on the lines it
prints (never on a sleep), takes its ``export`` lines as the user's shell
would, runs each command of the documented session with the installed
``amistate`` script, then interrupts the sandbox (Ctrl-C) and expects a clean
stop. The commands are read from the document, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from amistate.demo.sandbox import READY

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "getting-started.md"
AMISTATE = Path(sys.executable).with_name("amistate")
LINE_TIMEOUT = 120.0


def _session() -> tuple[list[str], list[str]]:
    """The local session's shell blocks: (terminal 1, terminal 2) command lines."""
    text = GUIDE.read_text(encoding="utf-8")
    section = text.split("## A local session", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2, "the local session has two shell blocks (terminal 1, terminal 2)"

    def commands(block: str) -> list[str]:
        lines = [line.split("  #", 1)[0].strip() for line in block.splitlines()]
        return [line for line in lines if line]

    first, second = commands(blocks[0]), commands(blocks[1])
    return first, second


class Lines:
    """A subprocess's stdout, line by line, with a deadline per line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        stream = process.stdout

        def pump() -> None:
            for line in stream:
                self.queue.put(line.rstrip("\n"))
            self.queue.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def until(self, pattern: str) -> str:
        """Read lines until one matches ``pattern``; return it."""
        while True:
            line = self.queue.get(timeout=LINE_TIMEOUT)
            if line is None:
                raise AssertionError(f"the sandbox exited before {pattern!r}: {self.seen}")
            self.seen.append(line)
            if re.search(pattern, line):
                return line


def _user_environment() -> dict[str, str]:
    """The user's shell: no AWS settings of this machine, no proxy for loopback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AMISTATE_"))}
    env.update(
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    return env


def _apply(line: str, env: dict[str, str]) -> None:
    """What the shell does with one printed ``export``/``unset`` line."""
    words = shlex.split(line)
    if words[0] == "unset":
        for name in words[1:]:
            env.pop(name, None)
    elif words[0] == "export":
        name, _, value = words[1].partition("=")
        env[name] = value


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Lines, dict[str, str]]]:
    first, _ = _session()
    assert first == ["amistate sandbox --events ./events"]
    env = _user_environment()
    process = subprocess.Popen(
        [str(AMISTATE), *shlex.split(first[0])[1:]],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = Lines(process)
    try:
        lines.until(re.escape(READY))
        shell = dict(env)
        for line in lines.seen:
            if line.startswith(("export ", "unset ")):
                _apply(line, shell)
        yield process, lines, shell
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def _run(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """One line of the session, through the shell, with the installed ``amistate`` first on PATH."""
    shell_env = {**env, "PATH": f"{AMISTATE.parent}{os.pathsep}{env.get('PATH', '')}"}
    return subprocess.run(
        ["/bin/sh", "-c", command],
        cwd=cwd,
        env=shell_env,
        capture_output=True,
        text=True,
        timeout=LINE_TIMEOUT,
        check=False,
    )


def test_the_documented_local_session(
    sandbox: tuple[subprocess.Popen[str], Lines, dict[str, str]], tmp_path: Path
) -> None:
    process, lines, env = sandbox
    exported = [line for line in lines.seen if line.startswith("export ")]
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_IMAGEBUILDER", "AMISTATE_TABLE"):
        assert any(line.startswith(f"export {name}=") for line in exported), name
    for url in (env["AWS_ENDPOINT_URL"], env["AWS_ENDPOINT_URL_IMAGEBUILDER"]):
        assert url.startswith("http://127.0.0.1:"), url
    _, session = _session()
    results: list[tuple[str, subprocess.CompletedProcess[str]]] = []
    events = 0
    for command in session:
        done = _run(command, tmp_path, env)
        results.append((command, done))
        if command.startswith("amistate init"):
            assert done.returncode == 0, (command, done.stdout, done.stderr)
            events += 1
            lines.until(rf"1\.0\.0/{events} AVAILABLE \(ami-[0-9a-f]+\): event saved to ")
    codes = [(c, r.returncode) for c, r in results]
    assert session[0].startswith("echo ")
    # Every command exits 0 except the dry run, which finds the lost build (exit 1).
    assert [code for _, code in codes] == [1 if "--dry-run" in c else 0 for c, _ in codes], [
        (c, r.returncode, r.stderr) for c, r in results
    ]
    inits = [r for c, r in results if c.startswith("amistate init")]
    assert "build started:" in inits[0].stdout
    replayed = next(r for c, r in results if c.startswith("amistate replay"))
    assert "applied" in replayed.stdout
    statuses = [r.stdout for c, r in results if c.startswith("amistate status")]
    assert "1.0.0/1" in statuses[0]
    assert "ready" in statuses[0]
    dry = next(r for c, r in results if "--dry-run" in c)
    assert "feed" in dry.stdout
    assert "1.0.0/2" in dry.stdout
    assert "1.0.0/2" in statuses[-1]
    amis = re.findall(r"ami-[0-9a-f]{17}", statuses[-1])
    assert len(amis) >= 2
    assert len(set(amis)) == 1, statuses[-1]  # the record's AMI is the one in SSM
    saved = sorted((tmp_path / "events").glob("*.json"))
    assert [p.name for p in saved] == [
        "spot-runner-linux-x64-1.0.0-1.json",
        "spot-runner-linux-x64-1.0.0-2.json",
    ]
    assert json.loads(saved[0].read_text())["detail-type"] == "EC2 Image Builder Image State Change"

    process.send_signal(signal.SIGINT)  # Ctrl-C
    lines.until("^sandbox stopped$")
    assert process.wait(timeout=LINE_TIMEOUT) == 0


def test_the_sandbox_stops_cleanly_on_sigterm(
    sandbox: tuple[subprocess.Popen[str], Lines, dict[str, str]],
) -> None:
    process, lines, _ = sandbox
    process.terminate()
    lines.until("^sandbox stopped$")
    assert process.wait(timeout=LINE_TIMEOUT) == 0
    assert process.stderr is not None
    assert "Traceback" not in process.stderr.read()
