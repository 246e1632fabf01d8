"""``amistate sync`` while another tool writes the parameter (issue 20), in-process
(``amistate.cli.main.main``) against moto's server.

The other tool's write lands between sync's ``GetParameter`` and its ``PutParameter``: the
version ``PutParameter`` answers shows it, and sync writes again keeping its keys."""

from __future__ import annotations

from typing import Any

import pytest
from amistate_adapters import runtime as aws

from tests.cli.conftest import CONFIG, PREFIX, Operator, init
from tests.ssm_writers import ForeignWrite

AMI_1 = "ami-0a1b2c3d4e5f60718"
NAME = f"{PREFIX}/linux-x64"


def _hook_cli_clients(monkeypatch: pytest.MonkeyPatch, foreign: ForeignWrite) -> None:
    """Attach ``foreign`` to every SSM client the CLI makes (it builds its own per run)."""
    real = aws.client_factory

    def factory(session: Any = None, endpoint_url: str | None = None) -> Any:
        make = real(session, endpoint_url)

        def hooked(service: str, region: str) -> Any:
            made = make(service, region)
            if service == "ssm":
                foreign.attach(made)
            return made

        return hooked

    monkeypatch.setattr(aws, "client_factory", factory)


def test_sync_keeps_a_key_written_between_its_read_and_its_write(
    op: Operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    init(op, "linux-x64")
    op.deliver(op.cli.image("linux-x64", 1, ami=AMI_1))
    # Config drift for sync to repair: someone changed a Config key by hand.
    op.cli.put_parameter("linux-x64", {**CONFIG, "timeout": 7200, "amiId": AMI_1})
    foreign = ForeignWrite(op.cli.ssm, NAME, lambda value: {**value, "maxRunners": 4})
    _hook_cli_clients(monkeypatch, foreign)
    foreign.arm()

    done = op.json("sync")

    assert foreign.done == 1
    assert (done["written"], done["failed"]) == (1, False)
    assert op.cli.parameter("linux-x64") == {**CONFIG, "maxRunners": 4, "amiId": AMI_1}
    assert len(foreign.seen) == 2  # the write over theirs, then the one keeping their key
    assert op.run("sync")[1].splitlines()[-1] == "0 parameter(s) written"
