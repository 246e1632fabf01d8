"""Fixtures shared by every test suite: the local AWS servers of tests/servers.py."""

from __future__ import annotations

from tests.servers import (
    aws_env,
    dynalite_server,
    dynalite_table,
    moto,
    moto_server,
    moto_table,
)

__all__ = ["aws_env", "dynalite_server", "dynalite_table", "moto", "moto_server", "moto_table"]
