"""The composition root: settings and ports in, a ready :class:`Runtime` out.

Every entry point builds its objects here and nowhere else: the Lambda shims
(through the per-process cache in :mod:`amistate.shims.runtime`), the CLI
(with its explicit target) and :mod:`amistate.read`. Settings are explicit
(:mod:`amistate.core.settings` makes them from the environment); AWS clients come
from an injected factory or session, else the process's shared clients. boto3
and the adapters are imported only when AWS ports are built, and the deployer
only when first used, so the event Lambda's cold start pays for neither early.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from amistate.core.deadline import Deadline
from amistate.core.settings import Settings
from amistate.errors import ConfigurationError
from amistate.ports import Ports
from amistate.usecases.converge import Converger
from amistate.usecases.service import AmiService

if TYPE_CHECKING:
    from amistate.ports.inventory import Inventory
    from amistate.usecases.deploy import PresetDeployer
    from amistate.usecases.pins import Pins
    from amistate.usecases.promotions import Promotions
    from amistate.usecases.reconcile.run import Reconciler


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
        #: The write-then-confirm loop every use case ends in.
        self.converger = Converger(
            settings=settings,
            states=ports.states,
            parameters=ports.parameters,
            accounts=ports.accounts,
        )
        self.service = AmiService(
            settings=settings,
            states=ports.states,
            catalog=ports.catalog,
            images=ports.images,
            converger=self.converger,
        )
        self._deployer: PresetDeployer | None = None
        self._lock = threading.Lock()

    @property
    def deployer(self) -> PresetDeployer:
        """The custom resource's use case (imported and built at its first use)."""
        with self._lock:
            if self._deployer is None:
                from amistate.usecases.deploy import PresetDeployer

                ports = self.ports
                self._deployer = PresetDeployer(
                    settings=self.settings,
                    catalog=ports.catalog,
                    states=ports.states,
                    starter=ports.starter,
                    converger=self.converger,
                    service=self.service,
                )
            return self._deployer

    @property
    def pins(self) -> Pins:
        """Pin, unpin and rollback (operators' commands)."""
        from amistate.usecases.pins import Pins

        return Pins(converger=self.converger, states=self.ports.states)

    @property
    def promotions(self) -> Promotions:
        """Promote and reject (operators' commands)."""
        from amistate.usecases.promotions import Promotions

        return Promotions(converger=self.converger, states=self.ports.states)

    @property
    def reconciler(self) -> Reconciler:
        """The scheduled resync (its EC2 and listing ports built at its first use)."""
        with self._lock:
            if self._reconciler is None:
                from amistate.usecases.reconcile.run import Reconciler

                if self._inventory is None:
                    raise ConfigurationError(
                        "this runtime was built without the reconciler's ports"
                    )
                inventory = self._inventory()
                for client in inventory.clients:
                    self.calls.watch(client)
                self._reconciler = Reconciler(
                    service=self.service,
                    converger=self.converger,
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


__all__ = ["CallCounter", "Runtime", "from_ports"]
