""":class:`amistate.ports.StateStore` on DynamoDB: every write one conditional UpdateItem.

Records written before the build history existed have no ``history`` map, and
a nested path (``#history.#hk``) on a missing map fails with a
ValidationException ("the document path provided in the update expression is
invalid"). The store then repeats the same write in its *whole* form, which
sets the map to ``{key: entry}`` under the extra condition
``attribute_not_exists(#history)``: one more UpdateItem, still one atomic
write with the transition, and no item is ever created only to hold an empty
map. If another writer created the map in between, the nested form is retried.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import AbstractContextManager, suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from amistate.core.names import STATE_PREFIX, STATE_SK, validate_preset
from amistate.core.rules import Transition
from amistate.core.state import NO_KEY, AmiState, BuildRecord
from amistate.errors import TransientError
from amistate.ports import Applied, ApplyResult, Rejected
from amistate_adapters.dynamodb.expressions import (
    Update,
    apply_updates,
    behind_update,
    fall_back_update,
    forget_update,
    keep_updates,
    pin_update,
    promote_update,
    reject_update,
)
from amistate_adapters.dynamodb.items import (
    CURRENT_ATTRIBUTES,
    EMPTY_MAP,
    NULL,
    Item,
    s,
    state_key,
    time_text,
    to_state,
)
from amistate_adapters.errors import error_code, table_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    from amistate.core.builds import TrimBasis
    from amistate.core.state_parts import Candidate, Pin, Rejection, RolloutBasis

CONDITION_FAILED = "ConditionalCheckFailedException"
#: The projection of :meth:`DynamoStateStore.current` (names, as some are reserved words).
_CURRENT_NAMES = {f"#c{i}": name for i, name in enumerate(CURRENT_ATTRIBUTES)}
_CURRENT_PROJECTION = ", ".join(_CURRENT_NAMES)
#: History keys removed per UpdateItem (expressions stay far below their 4 KB limit).
FORGET_CHUNK = 50
#: Keys per BatchGetItem (DynamoDB's limit) and rounds for the keys it leaves unprocessed.
BATCH_GET = 100
UNPROCESSED_ROUNDS = 5


class ConditionFailed(Exception):
    """The write's condition did not hold; ``item`` is ALL_OLD when the server returned it."""

    def __init__(self, item: Item | None) -> None:
        super().__init__("conditional check failed")
        self.item = item


class NoHistory(Exception):
    """A nested history path was written on a record without the ``history`` map."""


def _no_history(exc: ClientError) -> bool:
    message = str(exc.response.get("Error", {}).get("Message", "")).lower()
    return error_code(exc) == "ValidationException" and "document path" in message


class DynamoStateStore:
    """:class:`amistate.ports.StateStore` on DynamoDB: one conditional write per attempt."""

    #: Attempts of one apply: nested, whole (no map), nested again (map created
    #: meanwhile), and one more for a winner deleted by an operator.
    MAX_ATTEMPTS = 4

    def __init__(self, table_name: str, client: DynamoDBClient) -> None:
        self.table_name = table_name
        self.client = client

    def _errors(self, what: str) -> AbstractContextManager[None]:
        """Validation errors as permanent, a missing table as TableNotFound (table, region)."""
        return table_errors(what, self.table_name, self.client.meta.region_name)

    def _update(self, preset: str, update: Update, returns: str = "NONE") -> dict[str, Any]:
        """One UpdateItem; :class:`ConditionFailed`/:class:`NoHistory` instead of ClientError."""
        key = state_key(preset)
        try:
            with self._errors(f"UpdateItem {key['PK']}"):
                try:
                    response = self.client.update_item(
                        TableName=self.table_name,
                        Key=key,
                        ReturnValues=returns,  # type: ignore[arg-type]
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                        **update.request(),
                    )
                except ClientError as exc:
                    if _no_history(exc):
                        raise NoHistory from exc
                    raise
        except ClientError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
            raise ConditionFailed(cast("Item | None", exc.response.get("Item"))) from exc
        return cast("dict[str, Any]", response)

    def _item(self, preset: str, without_history: bool = False) -> Item | None:
        key = state_key(preset)
        shape: dict[str, Any] = {}
        if without_history:
            shape = {
                "ProjectionExpression": _CURRENT_PROJECTION,
                "ExpressionAttributeNames": _CURRENT_NAMES,
            }
        with self._errors(f"GetItem {key['PK']}"):
            response = self.client.get_item(
                TableName=self.table_name, Key=key, ConsistentRead=True, **shape
            )
        return response.get("Item") or None

    def apply(self, preset: str, transition: Transition) -> ApplyResult:
        """Write ``transition`` and its history entry iff it applies; else return the winner.

        The winner comes from ``ReturnValuesOnConditionCheckFailure=ALL_OLD``,
        i.e. read atomically with the failed check. Servers that do not return
        it (dynalite) cost one strongly consistent GetItem instead.
        """
        nested, whole = apply_updates(transition)
        form = nested
        for _ in range(self.MAX_ATTEMPTS):
            try:
                response = self._update(preset, form, "ALL_NEW")
            except NoHistory:
                form = whole
                continue
            except ConditionFailed as failed:
                current = failed.item or self._item(preset)
                if current is None:
                    continue  # the record was deleted meanwhile: the condition now holds
                if form is whole and "history" in current:
                    form = nested  # another writer created the map: write into it
                    continue
                return Rejected(to_state(current))
            return Applied(to_state(response["Attributes"]))
        raise RuntimeError(f"state record of {preset} keeps changing shape; retry the event")

    def keep_build(self, preset: str, build: BuildRecord) -> None:
        """Add ``build`` under its key unless present; no record: nothing (never an error).

        At most three UpdateItems (nested, whole when there is no map, nested
        again when a racing writer created it), usually one.
        """
        nested, whole = keep_updates(build)
        for form in (nested, whole, nested):
            try:
                self._update(preset, form)
            except NoHistory:
                continue  # a record without the map (or no record): the whole form decides
            except ConditionFailed:
                if form is nested:
                    return  # there already, or no record
                continue  # whole: the map exists now (retry nested) or no record (nested fails)
            return

    def forget_builds(self, preset: str, keys: Collection[str], basis: TrimBasis) -> bool:
        """``REMOVE #history.<key>, ...`` while the record still has ``basis`` (at most
        :data:`FORGET_CHUNK` keys a call; none for none). False once the record changed."""
        validate_preset(preset)
        distinct = list(dict.fromkeys(keys))
        for start in range(0, len(distinct), FORGET_CHUNK):
            try:
                self._update(preset, forget_update(distinct[start : start + FORGET_CHUNK], basis))
            except NoHistory:
                return True  # no history map: nothing to forget
            except ConditionFailed:
                return False  # no record, or the AMI register or the pin moved
        return True

    def set_behind(self, preset: str, behind: Mapping[str, str]) -> None:
        """One ``UpdateItem`` (``SET``/``REMOVE accountsBehind``); nothing for a record
        deleted meanwhile."""
        with suppress(ConditionFailed):
            self._update(validate_preset(preset), behind_update(behind))

    def fall_back(self, preset: str, ami_key: str, to: BuildRecord) -> AmiState | None:
        """The AMI register to ``to``'s build (its key too) iff it is still at ``ami_key``."""
        try:
            response = self._update(preset, fall_back_update(ami_key, to), "ALL_NEW")
        except ConditionFailed:
            return None
        return to_state(response["Attributes"])

    def promote(self, preset: str, candidate: Candidate) -> AmiState | None:
        """The candidate into the AMI register iff it is still the candidate (one UpdateItem)."""
        return self._conditional(preset, promote_update(candidate))

    def reject(
        self,
        preset: str,
        key: str,
        rejection: Rejection,
        basis: RolloutBasis,
        to: BuildRecord | None,
    ) -> AmiState | None:
        """Mark ``key`` rejected while the record has ``basis`` (one UpdateItem)."""
        return self._conditional(preset, reject_update(key, rejection, basis, to))

    def _conditional(self, preset: str, update: Update) -> AmiState | None:
        try:
            response = self._update(preset, update, "ALL_NEW")
        except (ConditionFailed, NoHistory):
            return None
        return to_state(response["Attributes"])

    def set_pin(self, preset: str, pin: Pin | None, expected: str | None) -> AmiState | None:
        """Pin (two calls: a consistent GetItem, then a conditional UpdateItem) or unpin (one).

        The read finds the history key of ``pin.build_id``'s good entry (the
        history is keyed by ordering key, not build); the write then re-checks
        everything itself: the pin is still ``expected`` and that entry is still
        there, ``ready``, with an AMI. So a racing event, trim or pin between
        the two calls makes the write fail (None), never land on stale facts.
        """
        history_key = None
        if pin is not None:
            item = self._item(preset)
            current = to_state(item) if item is not None else None
            if current is None or (current.pin.build_id if current.pin else None) != expected:
                return None
            history_key = next(
                (k for k, b in current.history.items() if b.build_id == pin.build_id and b.good),
                None,
            )
            if history_key is None:
                return None
        try:
            response = self._update(preset, pin_update(pin, expected, history_key), "ALL_NEW")
        except ConditionFailed:
            return None
        return to_state(response["Attributes"])

    def get(self, preset: str) -> AmiState | None:
        item = self._item(preset)
        return to_state(item) if item else None

    def current(self, preset: str) -> AmiState | None:
        """:meth:`get` without the history: the same GetItem, projected on
        :data:`~amistate_adapters.dynamodb.items.CURRENT_ATTRIBUTES`."""
        item = self._item(preset, without_history=True)
        return to_state(item) if item else None

    def get_many(self, presets: Collection[str]) -> Mapping[str, AmiState]:
        """Consistent ``BatchGetItem``, :data:`BATCH_GET` keys a call; the keys DynamoDB
        leaves unprocessed (throttled) are asked again, after a pause, at most
        :data:`UNPROCESSED_ROUNDS` times, then the read fails (transient)."""
        wanted = [state_key(validate_preset(p)) for p in dict.fromkeys(presets)]
        found: dict[str, AmiState] = {}
        for start in range(0, len(wanted), BATCH_GET):
            keys = wanted[start : start + BATCH_GET]
            for round_ in range(UNPROCESSED_ROUNDS):
                if round_:
                    time.sleep(min(0.05 * 2**round_, 1.0))
                request = {self.table_name: {"Keys": keys, "ConsistentRead": True}}
                with self._errors(f"BatchGetItem {keys[0]['PK']}..."):
                    page = self.client.batch_get_item(RequestItems=request)  # type: ignore[arg-type]
                for item in page.get("Responses", {}).get(self.table_name, []):
                    record = to_state(item)
                    found[record.preset] = record
                left = page.get("UnprocessedKeys", {}).get(self.table_name)
                keys = cast("list[dict[str, AttributeValueTypeDef]]", left["Keys"] if left else [])
                if not keys:
                    break
            else:
                raise TransientError(f"BatchGetItem on {self.table_name}: keys left unprocessed")
        return found

    def create_initial(self, preset: str, created_at: datetime) -> bool:
        """Set the initial state fields unless the record already has a state.

        An UpdateItem, not a PutItem: the catalog may have written the preset's
        config onto the item first, and that must survive. ``attribute_not_exists(status)``
        means "no state yet", so a redeploy never clobbers a record.
        """
        update = Update(
            "SET #status = :building, #amiId = :null, #updatedAt = :null, #buildId = :null, "
            "#orderKey = :noKey, #amiKey = :noKey, #amis = :empty, #createdAt = :createdAt, "
            "#amiBuildId = :null, #amiUpdatedAt = :null, "
            "#history = if_not_exists(#history, :empty)",
            "attribute_not_exists(#status)",
            {
                ":building": s("building"),
                ":null": NULL,
                ":noKey": s(NO_KEY),
                ":empty": EMPTY_MAP,
                ":createdAt": s(time_text(created_at)),
            },
        )
        try:
            self._update(preset, update)
        except ConditionFailed:
            return False
        return True

    def scan(self) -> Iterator[AmiState]:
        """Every state record, sorted by preset (a paginated, consistent Scan)."""
        records: list[AmiState] = []
        start: dict[str, AttributeValueTypeDef] | None = None
        while True:
            kwargs: dict[str, Any] = {}
            if start:
                kwargs["ExclusiveStartKey"] = start
            with self._errors(f"Scan {self.table_name}"):
                page = self.client.scan(
                    TableName=self.table_name,
                    FilterExpression="begins_with(#pk, :prefix) AND #sk = :sk",
                    ExpressionAttributeNames={"#pk": "PK", "#sk": "SK"},
                    ExpressionAttributeValues={":prefix": s(STATE_PREFIX), ":sk": s(STATE_SK)},
                    ConsistentRead=True,
                    **kwargs,
                )
            records.extend(to_state(item) for item in page.get("Items", []))
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        return iter(sorted(records, key=lambda record: record.preset))


__all__ = ["CONDITION_FAILED", "DynamoStateStore"]
