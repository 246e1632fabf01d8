"""The state store and the preset catalog on one DynamoDB table (string ``PK``/``SK``).

Key layout (see docs/adapters.md):

* **State record** ``PK=AMI#<preset>``, ``SK=LATEST``: ``status``, ``amiId``
  (S or NULL), ``updatedAt`` (ISO 8601 UTC or NULL), ``buildId`` (S or NULL),
  ``reason`` (absent when none), ``orderKey`` and ``amiKey`` (the two
  registers' ordering keys, ``""`` before any event), ``amis`` (M: region ->
  AMI), ``createdAt``; and, written by the catalog at deploy, ``config`` (the
  preset configuration as a JSON *string*, so every JSON type survives) and
  ``pipelineArn``. Co-locating the config means the one conditional write of
  an event returns (``ReturnValues=ALL_NEW``) everything the SSM merge needs.
* **Pipeline mapping** ``PK=PIPELINE#<pipeline arn>``, ``SK=PRESET``: ``preset``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from amistate.merge import dump_object
from amistate.names import STATE_PREFIX, STATE_SK, state_pk, validate_preset
from amistate.ports import Applied, ApplyResult, Preset, Rejected
from amistate.rules import Transition
from amistate.state import NO_KEY, AmiState, Status
from amistate_adapters.errors import error_code, permanent_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

Item = Mapping[str, "AttributeValueTypeDef"]

PIPELINE_PREFIX = "PIPELINE#"
PIPELINE_SK = "PRESET"
CONDITION_FAILED = "ConditionalCheckFailedException"
#: The table's shape, as ``CreateTable`` takes it: string ``PK``/``SK``, on-demand.
#: The demo and the tests create tables from it; a test checks the CDK construct against it.
TABLE_SCHEMA: Mapping[str, Any] = {
    "AttributeDefinitions": [
        {"AttributeName": "PK", "AttributeType": "S"},
        {"AttributeName": "SK", "AttributeType": "S"},
    ],
    "KeySchema": [
        {"AttributeName": "PK", "KeyType": "HASH"},
        {"AttributeName": "SK", "KeyType": "RANGE"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
}
_NULL: AttributeValueTypeDef = {"NULL": True}
_STATUSES: frozenset[str] = frozenset({"building", "ready", "failed"})

# One placeholder per attribute name: reserved words (status, config) and
# future names are never a problem.
_NAMES = {
    "#pk": "PK",
    "#status": "status",
    "#amiId": "amiId",
    "#updatedAt": "updatedAt",
    "#buildId": "buildId",
    "#reason": "reason",
    "#orderKey": "orderKey",
    "#amiKey": "amiKey",
    "#amis": "amis",
    "#createdAt": "createdAt",
    "#config": "config",
    "#pipelineArn": "pipelineArn",
    "#preset": "preset",
}


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _s_or_null(value: str | None) -> AttributeValueTypeDef:
    return _NULL if value is None else {"S": value}


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _state_key(preset: str) -> dict[str, AttributeValueTypeDef]:
    return {"PK": _s(state_pk(preset)), "SK": _s(STATE_SK)}


def _pipeline_key(pipeline_arn: str) -> dict[str, AttributeValueTypeDef]:
    return {"PK": _s(PIPELINE_PREFIX + pipeline_arn), "SK": _s(PIPELINE_SK)}


def _text(item: Item, name: str) -> str | None:
    value = item.get(name)
    return value.get("S") if value is not None else None


def to_state(item: Item) -> AmiState:
    """The :class:`AmiState` a state item holds (missing state fields take their defaults)."""
    pk = _text(item, "PK") or ""
    status = _text(item, "status") or "building"
    if status not in _STATUSES:
        raise ValueError(f"{pk}: unknown status {status!r}")
    updated = _text(item, "updatedAt")
    config = _text(item, "config")
    amis = item.get("amis", {}).get("M", {})
    return AmiState(
        preset=pk.removeprefix(STATE_PREFIX),
        status=cast("Status", status),
        ami_id=_text(item, "amiId"),
        updated_at=datetime.fromisoformat(updated) if updated else None,
        build_id=_text(item, "buildId"),
        reason=_text(item, "reason"),
        order_key=_text(item, "orderKey") or NO_KEY,
        ami_key=_text(item, "amiKey") or NO_KEY,
        amis={region: value["S"] for region, value in amis.items() if "S" in value},
        config=json.loads(config) if config is not None else None,
        pipeline_arn=_text(item, "pipelineArn"),
    )


def _update_for(transition: Transition) -> tuple[str, str, dict[str, AttributeValueTypeDef]]:
    """(UpdateExpression, ConditionExpression, values) enforcing ``transition.applies_to``."""
    values: dict[str, AttributeValueTypeDef] = {":key": _s(transition.key)}
    sets: list[str] = []
    removes: list[str] = []
    if transition.register == "all":
        # An item the catalog created (config only) has no orderKey yet.
        condition = "attribute_not_exists(#orderKey) OR #orderKey < :key"
        sets += [
            "#status = :status",
            "#updatedAt = :updatedAt",
            "#buildId = :buildId",
            "#orderKey = :key",
        ]
        values |= {
            ":status": _s(transition.status),
            ":updatedAt": _s(_time(transition.updated_at)),
            ":buildId": _s(transition.build_id),
        }
        if transition.reason is None:
            removes.append("#reason")
        else:
            sets.append("#reason = :reason")
            values[":reason"] = _s(transition.reason)
    else:
        # A missing item takes any transition (as applies_to(None) does); an
        # existing one needs amiKey < key < orderKey. Comparisons with a
        # missing attribute are false, so a config-only item rejects it.
        condition = "attribute_not_exists(#pk) OR (#amiKey < :key AND #orderKey > :key)"
        sets += [
            "#status = if_not_exists(#status, :building)",
            "#updatedAt = if_not_exists(#updatedAt, :null)",
            "#buildId = if_not_exists(#buildId, :null)",
            "#orderKey = if_not_exists(#orderKey, :noKey)",
        ]
        values |= {":building": _s("building"), ":null": _NULL, ":noKey": _s(NO_KEY)}
    if transition.sets_ami:
        assert transition.ami_id is not None
        sets += ["#amiId = :amiId", "#amis = :amis", "#amiKey = :key"]
        values[":amiId"] = _s(transition.ami_id)
        values[":amis"] = {"M": {r: _s(a) for r, a in transition.amis.items()}}
    else:
        sets += [
            "#amiId = if_not_exists(#amiId, :null)",
            "#amis = if_not_exists(#amis, :noAmis)",
            "#amiKey = if_not_exists(#amiKey, :noKey)",
        ]
        values |= {":null": _NULL, ":noAmis": {"M": {}}, ":noKey": _s(NO_KEY)}
    update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    return update, condition, values


def _placeholders(*expressions: str) -> dict[str, str]:
    text = " ".join(expressions)
    return {k: v for k, v in _NAMES.items() if _uses(text, k)}


def _uses(text: str, placeholder: str) -> bool:
    start = text.find(placeholder)
    while start != -1:
        end = start + len(placeholder)
        if end == len(text) or not (text[end].isalnum() or text[end] == "_"):
            return True
        start = text.find(placeholder, end)
    return False


class DynamoStateStore:
    """:class:`amistate.ports.StateStore` on DynamoDB: one conditional write per attempt."""

    #: A rejected write whose winner vanished (deleted by an operator) is retried this often.
    MAX_ATTEMPTS = 3

    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self.table_name = table_name
        self.client = client

    def apply(self, preset: str, transition: Transition) -> ApplyResult:
        """Write ``transition`` iff it applies; on a lost race, return the winner.

        The winner comes from ``ReturnValuesOnConditionCheckFailure=ALL_OLD``,
        i.e. read atomically with the failed check. Servers that do not return
        it (dynalite) cost one strongly consistent GetItem instead.
        """
        key = _state_key(preset)
        update, condition, values = _update_for(transition)
        for _ in range(self.MAX_ATTEMPTS):
            try:
                with permanent_errors(f"UpdateItem {key['PK']}"):
                    response = self.client.update_item(
                        TableName=self.table_name,
                        Key=key,
                        UpdateExpression=update,
                        ConditionExpression=condition,
                        ExpressionAttributeNames=_placeholders(update, condition),
                        ExpressionAttributeValues=values,
                        ReturnValues="ALL_NEW",
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    )
            except ClientError as exc:
                if error_code(exc) != CONDITION_FAILED:
                    raise
                old = cast("Item | None", exc.response.get("Item"))
                current = to_state(old) if old else self.get(preset)
                if current is not None:
                    return Rejected(current)
                continue  # the record was deleted meanwhile: the condition now holds
            return Applied(to_state(response["Attributes"]))
        raise RuntimeError(f"state record of {preset} keeps vanishing; retry the event")

    def get(self, preset: str) -> AmiState | None:
        key = _state_key(preset)
        with permanent_errors(f"GetItem {key['PK']}"):
            response = self.client.get_item(TableName=self.table_name, Key=key, ConsistentRead=True)
        item = response.get("Item")
        return to_state(item) if item else None

    def create_initial(self, preset: str, created_at: datetime) -> bool:
        """Set the initial state fields unless the record already has a state.

        An UpdateItem, not a PutItem: the catalog may have written the preset's
        config onto the item first, and that must survive. ``attribute_not_exists(status)``
        means "no state yet", so a redeploy never clobbers a record.
        """
        key = _state_key(preset)
        update = (
            "SET #status = :building, #amiId = :null, #updatedAt = :null, #buildId = :null, "
            "#orderKey = :noKey, #amiKey = :noKey, #amis = :noAmis, #createdAt = :createdAt"
        )
        condition = "attribute_not_exists(#status)"
        try:
            with permanent_errors(f"UpdateItem {key['PK']}"):
                self.client.update_item(
                    TableName=self.table_name,
                    Key=key,
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=_placeholders(update, condition),
                    ExpressionAttributeValues={
                        ":building": _s("building"),
                        ":null": _NULL,
                        ":noKey": _s(NO_KEY),
                        ":noAmis": {"M": {}},
                        ":createdAt": _s(_time(created_at)),
                    },
                )
        except ClientError as exc:
            if error_code(exc) == CONDITION_FAILED:
                return False
            raise
        return True

    def scan(self) -> Iterator[AmiState]:
        """Every state record, sorted by preset (a paginated, consistent Scan)."""
        records: list[AmiState] = []
        start: dict[str, AttributeValueTypeDef] | None = None
        while True:
            kwargs: dict[str, Any] = {}
            if start:
                kwargs["ExclusiveStartKey"] = start
            with permanent_errors(f"Scan {self.table_name}"):
                page = self.client.scan(
                    TableName=self.table_name,
                    FilterExpression="begins_with(#pk, :prefix) AND #sk = :sk",
                    ExpressionAttributeNames={"#pk": "PK", "#sk": "SK"},
                    ExpressionAttributeValues={":prefix": _s(STATE_PREFIX), ":sk": _s(STATE_SK)},
                    ConsistentRead=True,
                    **kwargs,
                )
            records.extend(to_state(item) for item in page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        return iter(sorted(records, key=lambda record: record.preset))


class DynamoPresetCatalog:
    """:class:`amistate.ports.PresetCatalog` on DynamoDB, with a per-process mapping cache.

    Mappings change only at deploy, so ``preset_for_pipeline`` answers from a
    cache for ``cache_ttl`` seconds (a miss for ``negative_ttl``: a pipeline
    that was just registered is found quickly). ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient,
        cache_ttl: float = 60.0,
        negative_ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table_name = table_name
        self.client = client
        self.cache_ttl = cache_ttl
        self.negative_ttl = negative_ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str | None, float]] = {}

    def register(self, preset: Preset, previous_pipeline_arn: str | None = None) -> None:
        """Config onto the state item, then the new mapping, then drop the old one."""
        name = validate_preset(preset.name)
        update = "SET #config = :config, #pipelineArn = :pipelineArn"
        with permanent_errors(f"register {name}"):
            self.client.update_item(
                TableName=self.table_name,
                Key=_state_key(name),
                UpdateExpression=update,
                ExpressionAttributeNames=_placeholders(update),
                ExpressionAttributeValues={
                    ":config": _s(dump_object(preset.config)),
                    ":pipelineArn": _s(preset.pipeline_arn),
                },
            )
            self.client.put_item(
                TableName=self.table_name,
                Item={**_pipeline_key(preset.pipeline_arn), "preset": _s(name)},
            )
        self._forget(preset.pipeline_arn)
        if previous_pipeline_arn and previous_pipeline_arn != preset.pipeline_arn:
            self.unregister(name, previous_pipeline_arn)

    def unregister(self, preset: str, pipeline_arn: str | None) -> None:
        """Delete the mapping, only if it still points to ``preset``."""
        name = validate_preset(preset)
        if not pipeline_arn:
            return
        try:
            with permanent_errors(f"unregister {name}"):
                self.client.delete_item(
                    TableName=self.table_name,
                    Key=_pipeline_key(pipeline_arn),
                    ConditionExpression="#preset = :preset",
                    ExpressionAttributeNames={"#preset": "preset"},
                    ExpressionAttributeValues={":preset": _s(name)},
                )
        except ClientError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
        self._forget(pipeline_arn)

    def preset_for_pipeline(self, pipeline_arn: str) -> str | None:
        now = self.clock()
        with self._lock:
            cached = self._cache.get(pipeline_arn)
        if cached is not None and cached[1] > now:
            return cached[0]
        with permanent_errors(f"GetItem {PIPELINE_PREFIX}{pipeline_arn}"):
            response = self.client.get_item(
                TableName=self.table_name, Key=_pipeline_key(pipeline_arn), ConsistentRead=True
            )
        item = response.get("Item")
        preset = _text(item, "preset") if item else None
        ttl = self.cache_ttl if preset is not None else self.negative_ttl
        with self._lock:
            self._cache[pipeline_arn] = (preset, now + ttl)
        return preset

    def _forget(self, pipeline_arn: str) -> None:
        with self._lock:
            self._cache.pop(pipeline_arn, None)


__all__ = ["DynamoPresetCatalog", "DynamoStateStore", "to_state"]
