"""The composition root: settings and ports in, a ready :class:`Runtime` out.

Every entry point builds its objects here and nowhere else: the Lambda shims
(through the per-process cache in :mod:`amistate.shims.runtime`), the CLI
(with its explicit target) and :mod:`amistate.read`. Settings are explicit
(:mod:`amistate.settings` makes them from the environment); AWS clients come
from an injected factory or session, else the process's shared clients. boto3
and the adapters are imported only when AWS ports are built, and the deployer
only when first used, so the event Lambda's cold start pays for neither early.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from amistate.deadline import Deadline
from amistate.errors import ConfigurationError
from amistate.inventory import Inventory
from amistate.ports import Ports
from amistate.service import AmiService
from amistate.settings import Settings

if TYPE_CHECKING:
    from amistate_adapters.wiring import MakeClient

    from amistate.deploy import PresetDeployer
    from amistate.pins import Pins
    from amistate.reconcile.run import Reconciler


class CallCounter:
    """Counts AWS API calls (botocore ``before-call`` events), thread-safely."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    @property
    def value(self) -> int:
        with self._lock:
            return self._value

    def __call__(self, **_: Any) -> None:
        with self._lock:
            self._value += 1

    def watch(self, client: Any) -> None:
        """Count every API call ``client`` makes from now on."""
        client.meta.events.register("before-call", self, unique_id=f"amistate-count-{id(self)}")


class Runtime:
    """Everything an invocation needs: the service now, the deployer on first use."""

    def __init__(
        self,
        settings: Settings,
        ports: Ports,
        calls: CallCounter | None = None,
        inventory: Callable[[], Inventory] | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        self.settings = settings
        self.ports = ports
        self.calls = calls or CallCounter()
        #: The current invocation's end; entry points set it (``deadline.running``).
        self.deadline = deadline or Deadline()
        self._inventory = inventory
        self._reconciler: Reconciler | None = None
        self.service = AmiService(
            settings=settings,
            states=ports.states,
            catalog=ports.catalog,
            images=ports.images,
            parameters=ports.parameters,
        )
        self._deployer: PresetDeployer | None = None
        self._lock = threading.Lock()

    @property
    def deployer(self) -> PresetDeployer:
        """The custom resource's use case (imported and built at its first use)."""
        with self._lock:
            if self._deployer is None:
                from amistate.deploy import PresetDeployer

                ports = self.ports
                self._deployer = PresetDeployer(
                    settings=self.settings,
                    catalog=ports.catalog,
                    states=ports.states,
                    starter=ports.starter,
                    service=self.service,
                )
            return self._deployer

    @property
    def pins(self) -> Pins:
        """Pin, unpin and rollback (operators' commands)."""
        from amistate.pins import Pins

        return Pins(service=self.service, states=self.ports.states)

    @property
    def reconciler(self) -> Reconciler:
        """The scheduled resync (its EC2 and listing ports built at its first use)."""
        with self._lock:
            if self._reconciler is None:
                from amistate.reconcile.run import Reconciler

                if self._inventory is None:
                    raise ConfigurationError(
                        "this runtime was built without the reconciler's ports"
                    )
                inventory = self._inventory()
                for client in inventory.clients:
                    self.calls.watch(client)
                self._reconciler = Reconciler(
                    service=self.service,
                    states=self.ports.states,
                    pipelines=inventory.pipelines,
                    machines=inventory.machines,
                    keys=self.settings.in_use_keys(),
                    history_limit=self.settings.history_limit,
                )
            return self._reconciler


def from_ports(
    settings: Settings,
    ports: Ports,
    calls: CallCounter | None = None,
    inventory: Inventory | None = None,
) -> Runtime:
    """A runtime over any ports (in-memory ones in tests, or AWS ones)."""
    return Runtime(settings, ports, calls, (lambda: inventory) if inventory else None)


def client_factory(session: Any = None, endpoint_url: str | None = None) -> MakeClient:
    """Clients from ``session`` and/or ``endpoint_url`` (None, None: the shared clients)."""
    from amistate_adapters import clients

    if session is None and endpoint_url is None:
        from amistate_adapters.wiring import shared_client

        return shared_client
    return clients.ClientFactory(session, endpoint_url)


def aws_runtime(settings: Settings, make: MakeClient | None = None) -> Runtime:
    """The production wiring: AWS adapters for ``settings``, every call counted."""
    from amistate_adapters.wiring import aws_inventory, aws_ports

    deadline = Deadline()
    ports = aws_ports(settings, make, deadline)
    calls = CallCounter()
    for client in ports.clients:
        calls.watch(client)
    return Runtime(settings, ports, calls, lambda: aws_inventory(settings, make), deadline)


__all__ = ["CallCounter", "Runtime", "aws_runtime", "client_factory", "from_ports"]
