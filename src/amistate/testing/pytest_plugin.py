"""pytest fixtures of the test kit; enable them in your ``conftest.py``::

    pytest_plugins = ["amistate.testing.pytest_plugin"]

* ``amistate_servers`` (session): moto's server and the Image Builder stand-in,
  started once;
* ``amistate_world`` (function): a :class:`~amistate.testing.LocalWorld` on them,
  emptied before the test, the environment pointed at it during the test and
  restored after.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from amistate.testing.world import ACCOUNT, REGION, TABLE, LocalWorld, Servers


@pytest.fixture(scope="session")
def amistate_servers() -> Iterator[Servers]:
    servers = Servers()
    try:
        yield servers
    finally:
        servers.close()


@pytest.fixture
def amistate_world(amistate_servers: Servers) -> Iterator[LocalWorld]:
    amistate_servers.reset()
    with LocalWorld(amistate_servers, REGION, TABLE, ACCOUNT).entered() as world:
        yield world


__all__ = ["amistate_servers", "amistate_world"]
