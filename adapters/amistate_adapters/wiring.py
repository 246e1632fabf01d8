"""The AWS ports of one process, built from settings and a client factory.

The composition root (:mod:`amistate.wiring.compose`) calls :func:`aws_ports` once per
process; :mod:`amistate.read` builds only the two ports it reads through
:func:`state_store` and :func:`parameter_store`. DynamoDB and Image Builder are
used in the home region; SSM in every region of ``settings.regions``. Clients
come from ``make`` (default: the process's shared, cached clients).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from amistate.core.deadline import Deadline
from amistate.core.settings import TABLE, Settings
from amistate.errors import ConfigurationError
from amistate.ports import Ports
from amistate_adapters import clients
from amistate_adapters.accounts import AssumedAccounts
from amistate_adapters.dynamodb import DynamoPresetCatalog, DynamoStateStore
from amistate_adapters.imagebuilder import ImageBuilderCatalog, ImageBuilderPipelines
from amistate_adapters.ssm import SsmParameterStore
from amistate_adapters.write_pace import WritePace

if TYPE_CHECKING:
    from amistate.ports.inventory import Inventory

#: Makes (or reuses) the boto3 client of a service in a region.
MakeClient = Callable[[str, str], Any]


def shared_client(service: str, region: str) -> Any:
    # Late-bound: tests (and the bench) may swap clients.client.
    return clients.client(service, region)  # type: ignore[call-overload]


def _table(settings: Settings) -> str:
    if not settings.table:
        raise ConfigurationError(f"{TABLE} is not set: no DynamoDB table to read or write")
    return settings.table


def state_store(settings: Settings, make: MakeClient | None = None) -> DynamoStateStore:
    """The state records of ``settings.table``."""
    make = make or shared_client
    return DynamoStateStore(_table(settings), make("dynamodb", settings.home_region))


def parameter_store(
    region: str,
    make: MakeClient | None = None,
    deadline: Deadline | None = None,
    write_rate: float | None = None,
) -> SsmParameterStore:
    """The SSM parameters of one region (throttled writes retried within ``deadline``,
    if any; at most ``write_rate`` writes a second started, if set)."""
    make = make or shared_client
    pace = WritePace(write_rate) if write_rate else None
    return SsmParameterStore(make("ssm", region), region, deadline, pace=pace)


def aws_ports(
    settings: Settings, make: MakeClient | None = None, deadline: Deadline | None = None
) -> Ports:
    """Every AWS adapter for ``settings`` (clients late-bound, so tests may swap them).

    ``deadline``: the runtime's, so SSM writes pace their retries within the
    invocation's remaining time."""
    make = make or shared_client
    states = state_store(settings, make)
    imagebuilder = make("imagebuilder", settings.home_region)
    regions = dict.fromkeys(settings.regions)
    rate = settings.ssm_write_rate
    parameters = {r: parameter_store(r, make, deadline, rate) for r in regions}
    found = [states.client, imagebuilder, *(store.client for store in parameters.values())]
    return Ports(
        states=states,
        catalog=DynamoPresetCatalog(states.table_name, states.client),
        images=ImageBuilderCatalog(imagebuilder),
        starter=ImageBuilderPipelines(imagebuilder),
        parameters=parameters,
        clients=tuple({id(c): c for c in found}.values()),
        accounts=AssumedAccounts(settings, make, deadline, getattr(make, "endpoint_url", None)),
    )


def aws_inventory(settings: Settings, make: MakeClient | None = None) -> Inventory:
    """The reconciler's ports: Image Builder's pipeline listing and EC2 in every region."""
    from amistate.ports.inventory import Inventory
    from amistate_adapters.ec2 import Ec2MachineImages
    from amistate_adapters.pipeline_images import ImageBuilderPipelineImages

    make = make or shared_client
    imagebuilder = make("imagebuilder", settings.home_region)
    ec2 = {r: make("ec2", r) for r in dict.fromkeys(settings.regions)}
    found = [imagebuilder, *ec2.values()]
    return Inventory(
        pipelines=ImageBuilderPipelineImages(imagebuilder),
        machines={r: Ec2MachineImages(client, r) for r, client in ec2.items()},
        clients=tuple({id(c): c for c in found}.values()),
    )


__all__ = [
    "MakeClient",
    "aws_inventory",
    "aws_ports",
    "parameter_store",
    "shared_client",
    "state_store",
]
