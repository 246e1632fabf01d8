""":class:`amistate.ports.PresetCatalog` on DynamoDB, with a per-process mapping cache.

The pipeline mapping item ``PK=PIPELINE#<arn>``, ``SK=PRESET`` holds a string
set ``presets``, changed only by ``ADD``/``DELETE`` (atomic, idempotent, and
two deploys adding presets to one pipeline never lose each other's). A mapping
written before a pipeline could feed several presets holds one string
``preset`` instead: it is read as one more member, folded into ``presets`` by
the next ``register`` of that pipeline, and removed by ``unregister`` of its
preset, so an upgrade loses no mapping. DynamoDB drops a set attribute when
its last member is deleted; the item left with keys only is then deleted,
conditioned on still holding no preset (a racing ``register`` wins).

Mappings change only at deploy, so ``presets_for_pipeline`` answers from a
cache for ``cache_ttl`` seconds (an empty answer for ``negative_ttl``: a
pipeline that was just registered is found quickly). Writes through *any*
catalog of this process invalidate every catalog's cached answer for that
pipeline (a process-wide generation per table and pipeline), so ``register``
then ``presets_for_pipeline`` in one process is never stale; other processes
see a change after at most the TTL. ``clock`` is injectable for tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from amistate.core.merge import dump_object
from amistate.core.names import validate_preset
from amistate.core.rollout import format_duration
from amistate_adapters.dynamodb.expressions import Update
from amistate_adapters.dynamodb.items import (
    ACCOUNTS_PREFIX,
    EMPTY_MAP,
    PIPELINE_PREFIX,
    Item,
    mapped_accounts,
    mapped_presets,
    pipeline_key,
    s,
    state_key,
    string_list,
    text,
)
from amistate_adapters.dynamodb.states import CONDITION_FAILED
from amistate_adapters.errors import error_code, table_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    from amistate.ports.preset import Preset

_GENERATIONS: dict[tuple[str, str], int] = {}
_GENERATIONS_LOCK = threading.Lock()


def _generation(table: str, pipeline_arn: str) -> int:
    with _GENERATIONS_LOCK:
        return _GENERATIONS.get((table, pipeline_arn), 0)


def _invalidate(table: str, pipeline_arn: str) -> None:
    with _GENERATIONS_LOCK:
        _GENERATIONS[(table, pipeline_arn)] = _GENERATIONS.get((table, pipeline_arn), 0) + 1


_Mapped = tuple[tuple[str, ...], dict[str, tuple[str, ...]]]


class DynamoPresetCatalog:
    """:class:`amistate.ports.PresetCatalog` on DynamoDB (see the module docstring)."""

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
        #: pipeline -> (presets, expires at, generation it was read under)
        #: pipeline -> ((presets, each preset's target accounts), expiry, generation)
        self._cache: dict[str, tuple[_Mapped, float, int]] = {}

    def _errors(self, what: str) -> AbstractContextManager[None]:
        """Validation errors as permanent, a missing table as TableNotFound (table, region)."""
        return table_errors(what, self.table_name, self.client.meta.region_name)

    def _mapping(self, pipeline_arn: str, update: Update, returns: str = "ALL_NEW") -> Item | None:
        """One UpdateItem of the mapping item: the item after, or None if the condition failed."""
        try:
            with self._errors(f"UpdateItem {PIPELINE_PREFIX}{pipeline_arn}"):
                response = self.client.update_item(
                    TableName=self.table_name,
                    Key=pipeline_key(pipeline_arn),
                    ReturnValues=returns,  # type: ignore[arg-type]
                    **update.request(),
                )
        except ClientError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
            return None
        return response.get("Attributes") or {}

    def register(self, preset: Preset, previous_pipeline_arn: str | None = None) -> None:
        """Config, retired keys, AMI parameter and pipeline onto the record; add to
        the pipeline; leave the old.

        The record's ``history`` map is created if absent; the AMI registers,
        the candidate and the pin are never touched. No AMI parameter removes
        ``amiParameter``. The rollout policy is ``rolloutPolicy`` (and
        ``soakTime``, ISO-8601, with ``soak``).
        """
        name = validate_preset(preset.name)
        values: dict[str, AttributeValueTypeDef] = {
            ":config": s(dump_object(preset.config)),
            ":pipelineArn": s(preset.pipeline_arn),
            ":retired": string_list(preset.retired_keys),
            ":targets": string_list(preset.target_accounts),
            ":empty": EMPTY_MAP,
            ":policy": s(preset.rollout.policy),
        }
        sets, removes = ["#rolloutPolicy = :policy"], []
        if preset.ami_parameter is None:
            removes.append("#amiParameter")
        else:
            sets.append("#amiParameter = :amiParameter")
            values[":amiParameter"] = s(preset.ami_parameter)
        if preset.rollout.soak is None:
            removes.append("#soakTime")
        else:
            sets.append("#soakTime = :soak")
            values[":soak"] = s(format_duration(preset.rollout.soak))
        remove = f" REMOVE {', '.join(removes)}" if removes else ""
        update = Update(
            "SET #config = :config, #pipelineArn = :pipelineArn, #retiredKeys = :retired, "
            "#targetAccounts = :targets, "
            f"#history = if_not_exists(#history, :empty), {', '.join(sets)}{remove}",
            None,
            values,
        )
        with self._errors(f"register {name}"):
            self.client.update_item(
                TableName=self.table_name, Key=state_key(name), **update.request()
            )
        accounts = {"#accounts": ACCOUNTS_PREFIX + name}
        if preset.target_accounts:
            mapping = Update(
                "ADD #presets :preset SET #accounts = :accounts",
                None,
                {":preset": {"SS": [name]}, ":accounts": string_list(preset.target_accounts)},
                accounts,
            )
        else:
            mapping = Update(
                "ADD #presets :preset REMOVE #accounts", None, {":preset": {"SS": [name]}}, accounts
            )
        added = self._mapping(preset.pipeline_arn, mapping)
        legacy = text(added, "preset") if added else None
        if legacy:
            self._fold(preset.pipeline_arn, legacy)
        _invalidate(self.table_name, preset.pipeline_arn)
        if previous_pipeline_arn and previous_pipeline_arn != preset.pipeline_arn:
            self._unmap(name, previous_pipeline_arn)

    def _fold(self, pipeline_arn: str, legacy: str) -> None:
        """Move a legacy single ``preset`` into the ``presets`` set (once; a racer may do it)."""
        self._mapping(
            pipeline_arn,
            Update(
                "ADD #presets :legacySet REMOVE #preset",
                "#preset = :legacy",
                {":legacySet": {"SS": [legacy]}, ":legacy": s(legacy)},
            ),
            "NONE",
        )

    def unregister(self, preset: str, pipeline_arn: str | None) -> None:
        """Remove ``preset`` from the pipeline's presets (deleting the item once none is
        left), then the pipeline from its record if the record still names it."""
        name = validate_preset(preset)
        if not pipeline_arn:
            return
        self._unmap(name, pipeline_arn)
        forget = Update(
            "REMOVE #pipelineArn", "#pipelineArn = :pipelineArn", {":pipelineArn": s(pipeline_arn)}
        )
        try:
            with self._errors(f"unregister {name}"):
                self.client.update_item(
                    TableName=self.table_name, Key=state_key(name), **forget.request()
                )
        except ClientError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise

    def _unmap(self, name: str, pipeline_arn: str) -> None:
        after = self._mapping(
            pipeline_arn,
            Update(
                "DELETE #presets :preset REMOVE #accounts",
                "attribute_exists(#pk)",
                {":preset": {"SS": [name]}},
                {"#accounts": ACCOUNTS_PREFIX + name},
            ),
        )
        if after is not None and text(after, "preset") == name:
            after = self._mapping(
                pipeline_arn, Update("REMOVE #preset", "#preset = :name", {":name": s(name)})
            )
        if after is not None and not mapped_presets(after):
            self._delete_if_empty(pipeline_arn)
        _invalidate(self.table_name, pipeline_arn)

    def _delete_if_empty(self, pipeline_arn: str) -> None:
        try:
            with self._errors(f"DeleteItem {PIPELINE_PREFIX}{pipeline_arn}"):
                self.client.delete_item(
                    TableName=self.table_name,
                    Key=pipeline_key(pipeline_arn),
                    ConditionExpression="attribute_not_exists(#presets) "
                    "AND attribute_not_exists(#preset)",
                    ExpressionAttributeNames={"#presets": "presets", "#preset": "preset"},
                )
        except ClientError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise

    def presets_for_pipeline(self, pipeline_arn: str) -> tuple[str, ...]:
        """The pipeline's presets, sorted: a consistent GetItem, cached (module docstring)."""
        now = self.clock()
        generation = _generation(self.table_name, pipeline_arn)
        with self._lock:
            cached = self._cache.get(pipeline_arn)
        if cached is not None and cached[1] > now and cached[2] == generation:
            return cached[0][0]
        with self._errors(f"GetItem {PIPELINE_PREFIX}{pipeline_arn}"):
            response = self.client.get_item(
                TableName=self.table_name, Key=pipeline_key(pipeline_arn), ConsistentRead=True
            )
        presets = mapped_presets(response.get("Item"))
        accounts = mapped_accounts(response.get("Item"))
        ttl = self.cache_ttl if presets else self.negative_ttl
        with self._lock:
            self._cache[pipeline_arn] = ((presets, accounts), now + ttl, generation)
        return presets

    def target_accounts(self, pipeline_arn: str, preset: str) -> tuple[str, ...]:
        """``preset``'s target accounts from the mapping item (cached with its presets)."""
        self.presets_for_pipeline(pipeline_arn)
        with self._lock:
            cached = self._cache.get(pipeline_arn)
        return cached[0][1].get(preset, ()) if cached is not None else ()


__all__ = ["DynamoPresetCatalog"]
