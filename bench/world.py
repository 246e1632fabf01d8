"""One world of presets on loopback servers, driven through amistate and the baseline.

amistate runs exactly as in Lambda: ``amistate.shims.lambda_handler.handler``
with its environment-built runtime (AWS adapters, cached clients). A *cold*
invocation is one after ``runtime.reset()``: a new runtime, so no cached
pipeline -> preset mapping (the clients themselves stay: creating them makes
no AWS call).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from attrs import define, field

from bench.baseline import Baseline
from bench.common import ACCOUNT, CONFIG, REGION, build_arn, pipeline_arn
from bench.server import ami_of_build

FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:amistate-state"
PREFIX = "/spot-runner/configs"
BASELINE_PREFIX = "/baseline/configs"
PREVIOUS_AMI = "ami-0ffffffffffffffff"


@define
class Context:
    """What the shims read from a Lambda context."""

    invoked_function_arn: str = FUNCTION_ARN
    aws_request_id: str = field(factory=lambda: str(uuid.uuid4()))
    function_name: str = "amistate-state"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def preset_name(index: int) -> str:
    return f"runner-{index}"


def preset_build(index: int, build: int) -> str:
    """Build ``build`` of preset ``index`` (its recipe and pipeline share its name)."""
    return build_arn(preset_name(index), build)


def preset_ami(index: int, build: int) -> str:
    """The home-region AMI the GetImage fake answers for that build."""
    return ami_of_build(preset_build(index, build), REGION)


def create_table(client: Any, name: str) -> None:
    """The stack's table shape (the test kit's, amistate.testing.world)."""
    from amistate.testing.world import create_table as create

    create(client, name)


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for a block; drop amistate's cached runtime and clients."""
    from amistate_adapters import clients

    from amistate.shims import runtime

    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    clients.clear()
    runtime.reset()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        clients.clear()
        runtime.reset()


def assumed_client(service: str, account: str) -> Any:
    """A client of ``service`` acting in ``account`` through amistate's role there, as
    amistate reaches it (STS ``AssumeRole`` at the environment's endpoint)."""
    import boto3.session

    from amistate.core.settings import DEFAULT_TARGET_ROLE

    sts = boto3.session.Session().client("sts", region_name=REGION)
    role = f"arn:aws:iam::{account}:role/{DEFAULT_TARGET_ROLE}"
    keys = sts.assume_role(RoleArn=role, RoleSessionName="bench")["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
        region_name=REGION,
    ).client(service)  # type: ignore[call-overload]


class Decisions(logging.Handler):
    """Collects the handler's one JSON line per record (decision, awsCalls)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[dict[str, Any]] = []
        self.guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = json.loads(record.getMessage())
        except ValueError:
            return
        with self.guard:
            self.lines.append(line)

    def take(self) -> list[dict[str, Any]]:
        with self.guard:
            lines, self.lines = self.lines, []
        return lines


class World:
    """Presets registered for amistate and for the baseline, on one set of endpoints.

    ``env`` points boto3 at the servers (the process environment is set by the
    caller with :func:`environment`); ``table`` is amistate's, ``baseline_table``
    the baseline's.
    """

    def __init__(
        self, table: str = "amistate-bench", baseline_table: str = "baseline-bench"
    ) -> None:
        import boto3.session
        from amistate_adapters import clients

        self.table = table
        self.baseline_table = baseline_table
        self.dynamodb = clients.client("dynamodb", REGION)
        self.ssm = clients.client("ssm", REGION)
        session = boto3.session.Session()
        self.baseline = Baseline(
            baseline_table,
            {},
            REGION,
            dynamodb=session.client("dynamodb", region_name=REGION),
            ssm=session.client("ssm", region_name=REGION),
            imagebuilder=session.client("imagebuilder", region_name=REGION),
            prefix=BASELINE_PREFIX,
        )
        self._clients: dict[tuple[str, str], Any] = {}
        self.decisions = Decisions()
        logger = logging.getLogger("amistate")
        logger.addHandler(self.decisions)
        logger.propagate = False
        self._logger = logger

    def close(self) -> None:
        self._logger.removeHandler(self.decisions)
        self._logger.propagate = True

    def create_tables(self) -> None:
        create_table(self.dynamodb, self.table)
        create_table(self.dynamodb, self.baseline_table)

    def add_preset(self, index: int, parameter: bool = True, accounts: Sequence[str] = ()) -> None:
        """Register preset ``index`` as a deploy would (for both), with its SSM parameter;
        with ``accounts``, amistate's preset has those target accounts, each already
        holding its parameter (the runners there read it: the previous AMI)."""
        from amistate_adapters.dynamodb import DynamoPresetCatalog, DynamoStateStore
        from amistate_adapters.ssm import SsmParameterStore

        from amistate.ports import Preset

        name = preset_name(index)
        pipeline = pipeline_arn(name)
        states = DynamoStateStore(self.table, self.dynamodb)
        catalog = DynamoPresetCatalog(self.table, self.dynamodb)
        # What PresetDeployer.create does, without starting a build.
        states.create_initial(name, _now())
        catalog.register(Preset(name, pipeline, dict(CONFIG), target_accounts=tuple(accounts)))
        self.baseline.presets[pipeline] = name
        if parameter:
            value = json.dumps({**CONFIG, "amiId": PREVIOUS_AMI})
            store = SsmParameterStore(self.ssm, REGION)
            store.put(f"{PREFIX}/{name}", value, None)
            store.put(f"{BASELINE_PREFIX}/{name}", value, None)
            for account in accounts:
                SsmParameterStore(self.client("ssm", account), REGION).put(
                    f"{PREFIX}/{name}", value, None
                )

    def client(self, service: str, account: str) -> Any:
        """A client acting in ``account`` through its role (moto keeps the account apart),
        as amistate reaches it; made once per service and account."""
        found = self._clients.get((service, account))
        if found is None:
            found = self._clients[(service, account)] = assumed_client(service, account)
        return found

    # --- running events ------------------------------------------------------------

    def amistate(self, event: Mapping[str, Any], cold: bool = False) -> dict[str, Any]:
        """Run one event through the Lambda handler; return its decision line."""
        from amistate.shims import lambda_handler, runtime

        if cold:
            runtime.reset()
        self.decisions.take()
        lambda_handler.handler(dict(event), Context())
        lines = self.decisions.take()
        return lines[-1] if lines else {}

    def run_baseline(self, event: Mapping[str, Any]) -> str:
        return self.baseline.handle(event)

    # --- reading the outcome ---------------------------------------------------------

    def record(self, index: int) -> dict[str, Any]:
        key = {"PK": {"S": f"AMI#{preset_name(index)}"}, "SK": {"S": "LATEST"}}
        item: dict[str, Any] = self.dynamodb.get_item(
            TableName=self.table, Key=key, ConsistentRead=True
        ).get("Item", {})
        return item

    def trim_history(self, index: int, keep: int) -> int:
        """Forget all but the newest ``keep`` builds of preset ``index``'s history, as
        the scheduled reconcile run does (it keeps ``AMISTATE_HISTORY_LIMIT``); returns
        how many it forgot."""
        keys = sorted(self.record(index).get("history", {}).get("M", {}))  # oldest first
        old = {f"#k{n}": key for n, key in enumerate(keys[: max(0, len(keys) - keep)])}
        if old:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"PK": {"S": f"AMI#{preset_name(index)}"}, "SK": {"S": "LATEST"}},
                UpdateExpression="REMOVE " + ", ".join(f"#h.{name}" for name in old),
                ExpressionAttributeNames={"#h": "history", **old},
            )
        return len(old)

    def parameter(
        self, index: int, prefix: str = PREFIX, account: str | None = None
    ) -> dict[str, Any]:
        ssm = self.ssm if account is None else self.client("ssm", account)
        value = ssm.get_parameter(Name=f"{prefix}/{preset_name(index)}")["Parameter"]
        parsed: dict[str, Any] = json.loads(value["Value"])
        return parsed


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
