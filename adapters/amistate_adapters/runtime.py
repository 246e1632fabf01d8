"""The AWS composition: a :class:`amistate.wiring.compose.Runtime` over the AWS adapters.

It lives beside the adapters so the package arrows point one way: the entry
points (the Lambda shims, the CLI, the demo) import it; :mod:`amistate`'s core,
ports, use cases and composition root never import :mod:`amistate_adapters`.
"""

from __future__ import annotations

from typing import Any

from amistate.core.deadline import Deadline
from amistate.core.settings import Settings
from amistate.wiring.compose import CallCounter, Runtime
from amistate_adapters import clients
from amistate_adapters.accounts import AssumedAccounts
from amistate_adapters.wiring import MakeClient, aws_inventory, aws_ports, shared_client


def client_factory(session: Any = None, endpoint_url: str | None = None) -> MakeClient:
    """Clients from ``session`` and/or ``endpoint_url`` (None, None: the shared clients)."""
    if session is None and endpoint_url is None:
        return shared_client
    return clients.ClientFactory(session, endpoint_url)


def aws_runtime(settings: Settings, make: MakeClient | None = None) -> Runtime:
    """The production wiring: AWS adapters for ``settings``, every call counted."""
    deadline = Deadline()
    ports = aws_ports(settings, make, deadline)
    calls = CallCounter()
    for client in ports.clients:
        calls.watch(client)
    if isinstance(ports.accounts, AssumedAccounts):
        ports.accounts.watch = calls.watch  # a target account's clients are made on first use
    return Runtime(settings, ports, calls, lambda: aws_inventory(settings, make), deadline)


__all__ = ["aws_runtime", "client_factory"]
