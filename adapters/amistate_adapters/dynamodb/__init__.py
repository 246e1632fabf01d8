"""The state store and the preset catalog on one DynamoDB table (string ``PK``/``SK``).

Key layout (see docs/adapters.md):

* **State record** ``PK=AMI#<preset>``, ``SK=LATEST``: ``status``, ``amiId``
  (S or NULL), ``updatedAt`` (ISO 8601 UTC or NULL), ``buildId`` (S or NULL),
  ``reason`` (absent when none), ``orderKey`` and ``amiKey`` (the two
  registers' ordering keys, ``""`` before any event), ``amis`` (M: region ->
  AMI), ``amiBuildId``/``amiUpdatedAt`` (the AMI register's build, S or NULL),
  ``history`` (M: ordering key -> M{``buildId``, ``status``, ``updatedAt``,
  ``amiId`` S|NULL, ``amis`` M, ``reason``?}), ``pin`` (M{``buildId``,
  ``amiId``, ``amis``, ``pinnedAt``, ``reason``?}; absent when not pinned),
  ``createdAt``; and, written by the catalog at deploy, ``config`` (the preset
  configuration as a JSON *string*, so every JSON type survives),
  ``retiredKeys`` (L of S) and ``pipelineArn``. Co-locating the config means
  the one conditional write of an event returns (``ReturnValues=ALL_NEW``)
  everything the SSM merge needs. Attributes a record written by an older
  version lacks read as their defaults.
* **Pipeline mapping** ``PK=PIPELINE#<pipeline arn>``, ``SK=PRESET``:
  ``presets`` (SS); a legacy item holds ``preset`` (S) instead.

Modules: :mod:`.items` (item <-> value), :mod:`.expressions` (UpdateItem
expressions), :mod:`.states` (the state store), :mod:`.catalog` (the catalog).
"""

from __future__ import annotations

from amistate_adapters.dynamodb.catalog import DynamoPresetCatalog
from amistate_adapters.dynamodb.items import PIPELINE_PREFIX, PIPELINE_SK, TABLE_SCHEMA, to_state
from amistate_adapters.dynamodb.states import CONDITION_FAILED, DynamoStateStore

__all__ = [
    "CONDITION_FAILED",
    "PIPELINE_PREFIX",
    "PIPELINE_SK",
    "TABLE_SCHEMA",
    "DynamoPresetCatalog",
    "DynamoStateStore",
    "to_state",
]
