"""What both AWS-backed fault worlds stand on: production clients hooked by an
:class:`~tests.reliability.faults.Injector` and counted, and unhooked twins.

:class:`~tests.reliability.aws_world.AwsWorld` (events, deploys) and
:class:`~tests.reliability.reconcile_world.ReconcileWorld` (reconcile runs, which
also call EC2) differ in their scenes, not in how they reach AWS.
"""

from __future__ import annotations

from typing import Any

from amistate_adapters.clients import client_config

from amistate.testing.standin import ImageBuilderStandIn
from amistate.wiring.compose import CallCounter
from tests.reliability.faults import Injector
from tests.servers import Endpoint


class HookedAws:
    """One set of clients per module (production retries and timeouts, explicit endpoints):
    ``ddb``, ``ssm``, ``imagebuilder`` and, with ``ec2``, ``ec2``, each hooked by
    ``injector`` and counted in ``calls``; ``raw_*``: the same services, unhooked."""

    def __init__(
        self, moto: Endpoint, images: ImageBuilderStandIn, injector: Injector, *, ec2: bool
    ) -> None:
        self.moto = moto
        self.images = images
        self.injector = injector
        config = client_config()
        self.ddb = moto.client("dynamodb", config=config)
        self.ssm = moto.client("ssm", config=config)
        self.imagebuilder = Endpoint(images.url).client("imagebuilder", config=config)
        hooked = [self.ddb, self.ssm, self.imagebuilder]
        if ec2:
            self.ec2 = moto.client("ec2", config=config)
            self.raw_ec2 = moto.client("ec2")
            hooked.insert(2, self.ec2)
        self.calls = CallCounter()  # one per module: its hooks stay registered
        for client in hooked:
            injector.attach(client)
            self.calls.watch(client)
        self.raw_ddb = moto.client("dynamodb")
        self.raw_ssm = moto.client("ssm")

    def table_items(self, table: str) -> list[dict[str, Any]]:
        """Every item of ``table`` (consistent), without ``createdAt``, in key order."""
        found = self.raw_ddb.scan(TableName=table, ConsistentRead=True).get("Items", [])
        items = [{k: v for k, v in item.items() if k != "createdAt"} for item in found]
        return sorted(items, key=lambda item: (item["PK"]["S"], item["SK"]["S"]))

    def parameter_of(self, name: str) -> dict[str, Any] | None:
        """``{"Type", "Value"}`` of the parameter (decrypted), None when there is none."""
        try:
            found = self.raw_ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        except self.raw_ssm.exceptions.ParameterNotFound:
            return None
        return {"Type": found["Type"], "Value": found["Value"]}
