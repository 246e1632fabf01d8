"""The AWS-backed world of the fault harness: moto's server, the Image Builder fake, real adapters.

One set of boto3 clients per module (production configuration, explicit endpoints), hooked by
an :class:`~tests.reliability.faults.Injector`; each case gets an emptied moto, a fresh table
and fresh port objects (a new process: no mapping cache), installed with ``runtime.configure``.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from amistate_adapters.dynamodb import DynamoPresetCatalog, DynamoStateStore
from amistate_adapters.imagebuilder import ImageBuilderCatalog, ImageBuilderPipelines
from amistate_adapters.ssm import SsmParameterStore

from amistate.core.settings import Settings
from amistate.ports import Ports, Preset
from amistate.shims import runtime
from amistate.testing.standin import ImageBuilderStandIn
from tests.reliability.common import (
    ACCOUNT,
    AMI,
    BUILD,
    CONFIG,
    PARAMETER,
    PIPELINE,
    PRESET,
    REGION,
)
from tests.reliability.faults import Injector
from tests.reliability.hooked import HookedAws
from tests.servers import Endpoint, create_table

TABLE = "amistate-reliability"
BUILD_4 = BUILD.replace("/1.0.0/3", "/1.0.0/4")
AMI_4 = "ami-0b2c3d4e5f6071829"
STARTED_3 = datetime(2024, 1, 18, 17, 21, 3, tzinfo=UTC)  # "Jan 18, 2024 5:21:03 PM"
STARTED_4 = datetime(2024, 1, 19, 3, 40, 0, tzinfo=UTC)
#: A build that failed (Image Builder says FAILED: a FAILED event of it is confirmed).
BUILD_5 = BUILD.replace("/1.0.0/3", "/1.0.0/5")
STARTED_5 = datetime(2024, 1, 19, 3, 50, 0, tzinfo=UTC)


class AwsWorld(HookedAws):
    """Clients, servers and the per-case reset."""

    def __init__(self, moto: Endpoint, images: ImageBuilderStandIn, injector: Injector) -> None:
        super().__init__(moto, images, injector, ec2=False)
        self.states: DynamoStateStore
        self.catalog: DynamoPresetCatalog

    # --- per case ------------------------------------------------------------------------

    def fresh(self) -> None:
        """Empty moto and the fake, create the table, start a new process."""
        self.injector.disarm()
        request = urllib.request.Request(f"{self.moto.url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            assert response.status == 200
        self.images.reset()
        self.images.pipelines.add(PIPELINE)
        # Started when their notifications say (build 3: the SNS sample's dateCreated).
        self.images.add_image(
            BUILD, PIPELINE, {REGION: AMI, "eu-west-1": "ami-0f9e8d7c6b5a40312"}, created=STARTED_3
        )
        self.images.add_image(BUILD_4, PIPELINE, {REGION: AMI_4}, created=STARTED_4)
        self.images.add_image(BUILD_5, PIPELINE, {}, status="FAILED", created=STARTED_5)
        create_table(self.raw_ddb, TABLE)
        self.new_process()

    def new_process(self, settings: Settings | None = None) -> None:
        """Fresh port objects over the same clients, installed as the shims' runtime."""
        self.states = DynamoStateStore(TABLE, self.ddb)
        self.catalog = DynamoPresetCatalog(TABLE, self.ddb)
        runtime.configure(
            runtime.from_ports(
                settings or Settings(home_region=REGION, account=ACCOUNT, partition="aws"),
                Ports(
                    states=self.states,
                    catalog=self.catalog,
                    images=ImageBuilderCatalog(self.imagebuilder),
                    parameters={REGION: SsmParameterStore(self.ssm, REGION)},
                    starter=ImageBuilderPipelines(self.imagebuilder),
                ),
                calls=self.calls,
            )
        )

    def deploy(self, parameter_type: str = "String", key_id: str | None = None) -> None:
        """The preset as its custom resource leaves it, and its SSM parameter (no faults)."""
        self.states.create_initial(PRESET, datetime(2024, 1, 1, tzinfo=UTC))
        self.catalog.register(Preset(PRESET, PIPELINE, dict(CONFIG)))
        extra = {"KeyId": key_id} if key_id else {}
        self.raw_ssm.put_parameter(
            Name=PARAMETER, Value=json.dumps(dict(CONFIG)), Type=parameter_type, **extra
        )

    # --- looking ---------------------------------------------------------------------------

    def items(self) -> list[dict[str, Any]]:
        return self.table_items(TABLE)

    def parameter(self) -> dict[str, Any] | None:
        return self.parameter_of(PARAMETER)

    def parameter_key(self) -> str | None:
        described = self.raw_ssm.describe_parameters(
            ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [PARAMETER]}]
        )["Parameters"]
        key = described[0].get("KeyId") if described else None
        return str(key) if key else None

    def snapshot(self) -> dict[str, Any]:
        return {
            "items": self.items(),
            "parameter": self.parameter(),
            "builds": sorted(set(self.images.started)),
        }

    def check_parameter(self) -> None:
        """SSM holds either nothing or a complete JSON object with every config key."""
        found = self.parameter()
        if found is None:
            return
        value = json.loads(found["Value"])
        assert isinstance(value, dict), found
        for key, expected in CONFIG.items():
            assert value[key] == expected, (key, value)
        assert found["Type"] == "String"


Invoke = Callable[[], Any]
