"""The AWS-backed world of the reconcile fault matrix: moto (DynamoDB, SSM, EC2), the stand-in.

Like :mod:`tests.reliability.aws_world`, one set of boto3 clients per module (production
configuration, explicit endpoints), hooked by an :class:`~tests.reliability.faults.Injector`;
each case gets an emptied moto and stand-in, a fresh table and fresh port objects (a new
process), installed with ``runtime.configure``. The reconciler's ports are the production
adapters (``ImageBuilderPipelineImages``, ``Ec2MachineImages``); the SSM store paces its
writes within the invocation's deadline as the production wiring does, with its pause removed
(as :func:`~tests.reliability.faults.instant_retries` removes botocore's).

Builds are real: each good build's AMI comes from moto's ``RegisterImage`` (random IDs, so
snapshots name every AMI by the build that made it), and the stand-in's ``finish`` records
when it ended (``ListWorkflowExecutions``) and whether its event was delivered.
"""

from __future__ import annotations

import itertools
import json
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from amistate_adapters.dynamodb import DynamoPresetCatalog, DynamoStateStore
from amistate_adapters.ec2 import Ec2MachineImages
from amistate_adapters.imagebuilder import ImageBuilderCatalog, ImageBuilderPipelines
from amistate_adapters.pipeline_images import ImageBuilderPipelineImages
from amistate_adapters.ssm import SsmParameterStore

from amistate.core.deadline import Deadline
from amistate.core.in_use import PREFIX, PROTECTED, InUseKeys, table_deployment
from amistate.core.settings import Settings
from amistate.ports import Ports, Preset
from amistate.ports.inventory import Inventory
from amistate.shims import lambda_handler, reconcile, runtime
from amistate.testing.events import scheduled_event
from amistate.testing.standin import ImageBuilderStandIn
from amistate.testing.world import run_build
from amistate.wiring.compose import Runtime
from tests.reliability.common import ACCOUNT, CONFIG, PARAMETER, PIPELINE, PRESET, REGION
from tests.reliability.faults import Injector
from tests.reliability.hooked import HookedAws
from tests.servers import Endpoint, create_table
from tests.shims.fakes import Context

TABLE = "amistate-reconcile-faults"
T0 = datetime(2024, 6, 3, 6, 0, tzinfo=UTC)
SCHEDULED = scheduled_event(
    f"arn:aws:events:{REGION}:{ACCOUNT}:rule/amistate-reconcile", "2024-06-10T06:00:00Z"
)
#: The write operations of a reconcile run (a run that plans nothing makes none).
WRITES = frozenset(
    {"PutParameter", "UpdateItem", "PutItem", "DeleteItem", "CreateTags", "DeleteTags"}
)


class ReconcileWorld(HookedAws):
    """Clients, servers, the per-case reset, and what a scenario makes happen."""

    def __init__(self, moto: Endpoint, images: ImageBuilderStandIn, injector: Injector) -> None:
        super().__init__(moto, images, injector, ec2=True)
        self.amis: dict[str, str] = {}  # label -> AMI
        self.builds: dict[str, str] = {}  # label -> build ARN
        self.runtime: Runtime
        self.table = ""
        self._tables = itertools.count(1)
        # Emptied once (other modules share the server); each case then cleans up after
        # the last one (see fresh).
        request = urllib.request.Request(f"{moto.url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            assert response.status == 200

    # --- per case ------------------------------------------------------------------------

    def fresh(self) -> None:
        """Empty the world, create a new table, deploy the preset, start a new process.

        Cheaper than resetting moto (which rebuilds its SSM and EC2 backends): the last
        case's table is dropped for a new one, its parameter deleted, its AMIs deregistered
        (their tags go with them)."""
        self.injector.disarm()
        if self.table:
            self.raw_ddb.delete_table(TableName=self.table)
        self.raw_ssm.delete_parameters(Names=[PARAMETER])
        for image in self.raw_ec2.describe_images(Owners=["self"])["Images"]:
            self.raw_ec2.deregister_image(ImageId=image["ImageId"])
        assert self.tags() == {}
        self.images.reset()
        self.images.pipelines.add(PIPELINE)
        self.amis.clear()
        self.builds.clear()
        self.table = f"{TABLE}-{next(self._tables)}"
        create_table(self.raw_ddb, self.table)
        self.new_process()
        # The preset as its custom resource leaves it (no build started) and its parameter.
        self.runtime.ports.states.create_initial(PRESET, T0 - timedelta(days=1))
        self.runtime.ports.catalog.register(Preset(PRESET, PIPELINE, dict(CONFIG)))
        self.raw_ssm.put_parameter(Name=PARAMETER, Value=json.dumps(dict(CONFIG)), Type="String")

    def new_process(self) -> None:
        """Fresh port objects over the same clients, wired as ``runtime.aws_runtime`` does."""
        settings = Settings(home_region=REGION, account=ACCOUNT, partition="aws", table=self.table)
        deadline = Deadline()
        ports = Ports(
            states=DynamoStateStore(self.table, self.ddb),
            catalog=DynamoPresetCatalog(self.table, self.ddb),
            images=ImageBuilderCatalog(self.imagebuilder),
            parameters={REGION: SsmParameterStore(self.ssm, REGION, deadline, sleep=_no_pause)},
            starter=ImageBuilderPipelines(self.imagebuilder),
        )
        inventory = Inventory(
            pipelines=ImageBuilderPipelineImages(self.imagebuilder),
            machines={REGION: Ec2MachineImages(self.ec2, REGION)},
        )
        self.runtime = Runtime(settings, ports, self.calls, lambda: inventory, deadline)
        runtime.configure(self.runtime)

    # --- what a scenario makes happen -------------------------------------------------------

    def register(self, label: str) -> str:
        """A real AMI (moto's RegisterImage), known by ``label`` in snapshots."""
        image = self.raw_ec2.register_image(
            Name=f"spot-runner {label}",
            RootDeviceName="/dev/xvda",
            BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
        )
        ami = str(image["ImageId"])
        self.amis[label] = ami
        return ami

    def build(
        self, label: str, hour: float, status: str = "AVAILABLE", deliver: bool = True
    ) -> str:
        """A build started ``hour`` hours after T0, ended 40 minutes later; its event sent
        (and handled by the event Lambda) unless ``deliver`` is False: a lost event."""
        reason = "Component step 'InstallDocker' failed" if status == "FAILED" else None
        built = run_build(
            self.images,
            PIPELINE,
            T0 + timedelta(hours=hour),
            status,
            new_ami=lambda _: self.register(label),
            region=REGION,
            minutes=40,
            reason=reason,
            deliver=deliver,
        )
        self.builds[label] = built.arn
        for event in self.images.take_events():
            assert lambda_handler.handler(event, Context()) is None
        return built.arn

    def reconcile(self) -> dict[str, Any]:
        """One invocation of the reconcile Lambda."""
        summary: dict[str, Any] = reconcile.handler(
            dict(SCHEDULED), Context(function_name="amistate-reconcile")
        )
        return summary

    @property
    def keys(self) -> InUseKeys:
        """The in-use tag keys of this case's deployment (named by its table)."""
        return InUseKeys.of(table_deployment(self.table, REGION))

    def tag(self, label: str, presets: str) -> None:
        """Protect an AMI by hand, as a run would for ``presets``."""
        tags = [{"Key": self.keys.protect, "Value": PROTECTED}]
        tags.append({"Key": self.keys.presets, "Value": presets})
        self.raw_ec2.create_tags(Resources=[self.amis[label]], Tags=tags)

    def untag(self, label: str) -> None:
        keys = [{"Key": key} for key in self.keys.owned]
        self.raw_ec2.delete_tags(Resources=[self.amis[label]], Tags=keys)

    def deregister(self, label: str) -> None:
        self.raw_ec2.deregister_image(ImageId=self.amis[label])

    def edit_parameter(self, **changes: Any) -> None:
        """A hand edit of the parameter (drift)."""
        value = json.loads(self.raw_ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"])
        value.update(changes)
        self.raw_ssm.put_parameter(
            Name=PARAMETER, Value=json.dumps(value), Type="String", Overwrite=True
        )

    # --- looking ---------------------------------------------------------------------------

    def items(self) -> list[dict[str, Any]]:
        return self.table_items(self.table)

    def parameter(self) -> dict[str, Any] | None:
        found = self.parameter_of(PARAMETER)
        return None if found is None else {**found, "Value": json.loads(found["Value"])}

    def tags(self) -> dict[str, dict[str, str]]:
        """AMI -> its in-use tags, for every AMI carrying one; this case's own keys by role
        (``<protect>``, ``<presets>``), so that two cases' snapshots compare."""
        roles = (
            {self.keys.protect: "<protect>", self.keys.presets: "<presets>"} if self.table else {}
        )
        found: dict[str, dict[str, str]] = {}
        for image in self.raw_ec2.describe_images(Owners=["self"])["Images"]:
            tags = {
                roles.get(t["Key"], t["Key"]): t["Value"]
                for t in image.get("Tags", [])
                if t["Key"].startswith(PREFIX)
            }
            if tags:
                found[image["ImageId"]] = tags
        return found

    def snapshot(self) -> Any:
        """Records, parameter and tags, every AMI ID and build ARN named by its label
        (moto's AMI IDs differ from one fresh world to the next)."""
        text = json.dumps(
            {"items": self.items(), "parameter": self.parameter(), "tags": self.tags()},
            sort_keys=True,
        )
        for label, ami in self.amis.items():
            text = text.replace(ami, f"<ami {label}>")
        for label, arn in self.builds.items():
            text = text.replace(arn, f"<build {label}>")
        return json.loads(text)

    def check_parameter(self) -> None:
        """SSM holds a complete JSON object (never partial, never another type) whose
        ``amiId`` is one of the world's AMIs."""
        found = self.parameter()
        assert found is not None
        value = found["Value"]
        assert isinstance(value, dict), found
        assert found["Type"] == "String", found
        assert value.get("amiId") in self.amis.values(), value


def _no_pause(_: float) -> None:
    """The paced retry's pause, removed (the retry decisions stay the production ones)."""
