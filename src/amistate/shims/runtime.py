"""The composition root of the shims: the service and the deployer, built once per process.

Built lazily at the first invocation (so a cold start imports boto3 and the
adapters only when needed) from the environment (:mod:`amistate.shims.config`)
and the function's own account (``context.invoked_function_arn``). Tests may
install a prebuilt :class:`Runtime` with :func:`configure` and drop it with
:func:`reset`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from amistate.arns import owner_of
from amistate.deploy import PresetDeployer
from amistate.ports import (
    ImageCatalog,
    ParameterStore,
    PipelineStarter,
    PresetCatalog,
    StateStore,
)
from amistate.service import AmiService, Settings
from amistate.shims import config, logs


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


@frozen
class Runtime:
    """Everything an invocation needs."""

    service: AmiService
    deployer: PresetDeployer
    calls: CallCounter


def from_ports(
    settings: Settings,
    *,
    states: StateStore,
    catalog: PresetCatalog,
    images: ImageCatalog,
    parameters: Mapping[str, ParameterStore],
    starter: PipelineStarter,
    calls: CallCounter | None = None,
) -> Runtime:
    """A runtime over any ports (the AWS ones, or in-memory ones in tests)."""
    service = AmiService(
        settings=settings, states=states, catalog=catalog, images=images, parameters=parameters
    )
    deployer = PresetDeployer(catalog=catalog, states=states, starter=starter)
    return Runtime(service=service, deployer=deployer, calls=calls or CallCounter())


def from_environment(account: str | None, partition: str | None = None) -> Runtime:
    """The production wiring: AWS adapters configured by the environment."""
    env = config.load()
    # Imported here, not at module level: the cold start pays for boto3 only once needed.
    from amistate_adapters.wiring import aws_ports

    ports = aws_ports(env.table, env.region, env.extra_regions)
    calls = CallCounter()
    for client in ports.clients():
        calls.watch(client)
    settings = Settings(
        home_region=env.region,
        account=account,
        partition=partition,
        parameter_prefix=env.parameter_prefix,
        extra_regions=env.extra_regions,
    )
    return from_ports(
        settings,
        states=ports.states,
        catalog=ports.catalog,
        images=ports.images,
        parameters=ports.parameters,
        starter=ports.starter,
        calls=calls,
    )


_lock = threading.Lock()
_current: Runtime | None = None


def get(context: Any) -> Runtime:
    """The process's runtime, built at the first call (ConfigurationError if misconfigured)."""
    global _current
    with _lock:
        if _current is None:
            logs.configure_level()
            logs.quiet_aws_wire()
            arn = getattr(context, "invoked_function_arn", None)
            owner = owner_of(arn) if isinstance(arn, str) else None
            partition, _, account = owner or (None, None, None)
            _current = from_environment(account, partition)
        return _current


def configure(runtime: Runtime) -> None:
    """Install a prebuilt runtime (tests; or an embedding application)."""
    global _current
    with _lock:
        _current = runtime


def reset() -> None:
    """Forget the runtime: the next invocation builds a new one from the environment."""
    global _current
    with _lock:
        _current = None


__all__ = ["CallCounter", "Runtime", "configure", "from_environment", "from_ports", "get", "reset"]
