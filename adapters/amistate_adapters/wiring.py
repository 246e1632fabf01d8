"""The AWS ports of one process, built from the shared cached clients.

The Lambda shim calls :func:`aws_ports` once per process (see
``amistate.shims.runtime``). DynamoDB and Image Builder are used in the
function's own region; SSM in the home region and each extra region.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import frozen

from amistate_adapters import clients
from amistate_adapters.dynamodb import DynamoPresetCatalog, DynamoStateStore
from amistate_adapters.imagebuilder import ImageBuilderCatalog, ImageBuilderPipelines
from amistate_adapters.ssm import SsmParameterStore


@frozen
class AwsPorts:
    """Every port the service and the deployer need, on AWS."""

    states: DynamoStateStore
    catalog: DynamoPresetCatalog
    images: ImageBuilderCatalog
    starter: ImageBuilderPipelines
    parameters: Mapping[str, SsmParameterStore]

    def clients(self) -> list[Any]:
        """The distinct boto3 clients behind the ports (to count or instrument calls)."""
        found = [
            self.states.client,
            self.catalog.client,
            self.images.client,
            self.starter.client,
            *(store.client for store in self.parameters.values()),
        ]
        return list({id(c): c for c in found}.values())


def aws_ports(table_name: str, home_region: str, extra_regions: tuple[str, ...] = ()) -> AwsPorts:
    """The AWS adapters for ``table_name`` in ``home_region``, SSM also in ``extra_regions``."""
    dynamodb = clients.client("dynamodb", home_region)
    imagebuilder = clients.client("imagebuilder", home_region)
    regions = dict.fromkeys((home_region, *extra_regions))
    return AwsPorts(
        states=DynamoStateStore(table_name, dynamodb),
        catalog=DynamoPresetCatalog(table_name, dynamodb),
        images=ImageBuilderCatalog(imagebuilder),
        starter=ImageBuilderPipelines(imagebuilder),
        parameters={r: SsmParameterStore(clients.client("ssm", r), r) for r in regions},
    )


__all__ = ["AwsPorts", "aws_ports"]
