"""DynamoDB items <-> the core's values: keys, attribute values, ``to_state``.

Every function here is pure (no client). The layout is documented in the
package docstring and in docs/adapters.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from amistate.core.amis import Amis
from amistate.core.arns import owner_of
from amistate.core.names import STATE_PREFIX, STATE_SK, state_pk
from amistate.core.rollout import parse_duration
from amistate.core.state import (
    NO_KEY,
    POLICIES,
    AmiState,
    BuildRecord,
    Rollout,
    Status,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    from amistate.core.state_parts import Candidate, Pin, Rejection

Item = Mapping[str, "AttributeValueTypeDef"]

PIPELINE_PREFIX = "PIPELINE#"
PIPELINE_SK = "PRESET"
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
NULL: AttributeValueTypeDef = {"NULL": True}
EMPTY_MAP: AttributeValueTypeDef = {"M": {}}
_STATUSES: frozenset[str] = frozenset({"building", "ready", "failed"})


def s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def s_or_null(value: str | None) -> AttributeValueTypeDef:
    return NULL if value is None else {"S": value}


def time_text(value: datetime) -> str:
    """ISO 8601 UTC with ``Z`` (microseconds only when there are any)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def string_map(values: Mapping[str, str]) -> AttributeValueTypeDef:
    return {"M": {k: s(v) for k, v in values.items()}}


def string_list(values: Sequence[str]) -> AttributeValueTypeDef:
    return {"L": [s(v) for v in values]}


def state_key(preset: str) -> dict[str, AttributeValueTypeDef]:
    return {"PK": s(state_pk(preset)), "SK": s(STATE_SK)}


def pipeline_key(pipeline_arn: str) -> dict[str, AttributeValueTypeDef]:
    return {"PK": s(PIPELINE_PREFIX + pipeline_arn), "SK": s(PIPELINE_SK)}


def amis_attributes(amis: Amis, *, always: bool = False) -> dict[str, AttributeValueTypeDef]:
    """Where a build's AMIs live: ``amiId`` (the home AMI, S|NULL), ``amis`` (M:
    our region -> AMI, as every version wrote it) and ``copies`` (M: target
    account -> M region -> AMI; absent when none, unless ``always``: the
    record's register must clear an older build's copies)."""
    values = {"amiId": s_or_null(amis.home), "amis": string_map(amis.regional())}
    copies = amis.copies()
    if copies or always:
        values["copies"] = {"M": {a: string_map(by_region) for a, by_region in copies.items()}}
    return values


def to_amis(item: Item, build_id: str | None) -> Amis:
    """The :class:`Amis` of a record, history entry or pin (``build_id``: its build).

    Items written before per-region AMIs hold ``amiId`` only: the build's own
    region's AMI. Items written before target accounts have no ``copies``.
    """
    home, own = text(item, "amiId"), _strings(item, "amis")
    owner = owner_of(build_id) if build_id else None
    if home is not None and not own and owner is not None:
        own = {owner[1]: home}
    found = item.get("copies", {}).get("M", {})
    copies = {account: _strings(value.get("M", {}), None) for account, value in found.items()}
    return Amis(home, Amis.of(own, copies=copies).places)


def entry_value(build: BuildRecord) -> AttributeValueTypeDef:
    """A history entry: ``M{buildId, status, updatedAt, amiId S|NULL, amis M, copies M?,
    reason?, rejection?}``."""
    entry: dict[str, AttributeValueTypeDef] = {
        "buildId": s(build.build_id),
        "status": s(build.status),
        "updatedAt": s(time_text(build.updated_at)),
        **amis_attributes(build.amis),
    }
    if build.reason is not None:
        entry["reason"] = s(build.reason)
    if build.rejection is not None:
        entry["rejection"] = rejection_value(build.rejection)
    return {"M": entry}


def rejection_value(rejection: Rejection) -> AttributeValueTypeDef:
    """A rejection: ``M{at, reason?}``."""
    value: dict[str, AttributeValueTypeDef] = {"at": s(time_text(rejection.at))}
    if rejection.reason is not None:
        value["reason"] = s(rejection.reason)
    return {"M": value}


def candidate_value(candidate: Candidate) -> AttributeValueTypeDef:
    """The candidate: ``M{buildId, key, completedAt, amiId, amis M, copies M?}``."""
    return {
        "M": {
            "buildId": s(candidate.build_id),
            "key": s(candidate.key),
            "completedAt": s(time_text(candidate.completed_at)),
            **amis_attributes(candidate.amis),
        }
    }


def pin_value(pin: Pin) -> AttributeValueTypeDef:
    """The pin: ``M{buildId, amiId, amis M, copies M?, pinnedAt S|NULL, reason?}``."""
    value: dict[str, AttributeValueTypeDef] = {
        "buildId": s(pin.build_id),
        **amis_attributes(pin.amis),
        "pinnedAt": NULL if pin.pinned_at is None else s(time_text(pin.pinned_at)),
    }
    if pin.reason is not None:
        value["reason"] = s(pin.reason)
    return {"M": value}


def text(item: Item, name: str) -> str | None:
    value = item.get(name)
    return value.get("S") if value is not None else None


def _when(item: Item, name: str) -> datetime | None:
    found = text(item, name)
    return datetime.fromisoformat(found) if found else None


def _strings(item: Item, name: str | None) -> dict[str, str]:
    """The string map ``item[name]`` (``name`` None: ``item`` itself)."""
    found = item if name is None else item.get(name, {}).get("M", {})
    return {k: v["S"] for k, v in found.items() if "S" in v}


def _status(value: str | None, where: str) -> Status:
    status = value or "building"
    if status not in _STATUSES:
        raise ValueError(f"{where}: unknown status {status!r}")
    return cast("Status", status)


def to_build(key: str, value: AttributeValueTypeDef, where: str = "") -> BuildRecord:
    """One history entry (``key`` is its ordering key, the map key)."""
    entry = value.get("M", {})
    updated = _when(entry, "updatedAt")
    if updated is None:
        raise ValueError(f"{where} history {key}: no updatedAt")
    build_id = text(entry, "buildId") or ""
    return BuildRecord(
        build_id=build_id,
        status=_status(text(entry, "status"), f"{where} history {key}"),
        key=key,
        updated_at=updated,
        amis=to_amis(entry, build_id),
        reason=text(entry, "reason"),
        rejection=_rejection(entry),
    )


def _rejection(entry: Item) -> Rejection | None:
    value = entry.get("rejection", {}).get("M")
    at = _when(value, "at") if value is not None else None
    if value is None or at is None:
        return None
    from amistate.core.state_parts import Rejection

    return Rejection(at, text(value, "reason"))


def to_candidate(item: Item) -> Candidate | None:
    value = item.get("candidate", {}).get("M")
    if value is None:
        return None
    completed = _when(value, "completedAt")
    if completed is None:
        raise ValueError(f"{text(item, 'PK')}: candidate without completedAt")
    build_id = text(value, "buildId") or ""
    from amistate.core.state_parts import Candidate

    return Candidate(
        build_id=build_id,
        key=text(value, "key") or NO_KEY,
        completed_at=completed,
        amis=to_amis(value, build_id),
    )


def to_rollout(item: Item) -> Rollout:
    """``rolloutPolicy`` and ``soakTime``; a record written before rollouts: immediate."""
    policy = text(item, "rolloutPolicy") or "immediate"
    if policy not in POLICIES:
        raise ValueError(f"{text(item, 'PK')}: unknown rolloutPolicy {policy!r}")
    soak = text(item, "soakTime")
    return Rollout(policy, parse_duration(soak, "soakTime") if soak else None)


def to_pin(item: Item) -> Pin | None:
    value = item.get("pin")
    if value is None or "M" not in value:
        return None
    pin = value["M"]
    build_id = text(pin, "buildId") or ""
    from amistate.core.state_parts import Pin

    return Pin(
        build_id=build_id,
        amis=to_amis(pin, build_id),
        pinned_at=_when(pin, "pinnedAt"),
        reason=text(pin, "reason"),
    )


#: Every attribute of a state item :func:`to_state` reads but ``history``: what a read
#: that needs no history projects (``StateStore.current``). The history is most of a
#: mature record's bytes, and each of its entries is parsed twice (botocore, then here).
CURRENT_ATTRIBUTES = (
    "PK",
    "status",
    "updatedAt",
    "buildId",
    "reason",
    "orderKey",
    "amiKey",
    "amiId",
    "amis",
    "copies",
    "amiBuildId",
    "amiUpdatedAt",
    "config",
    "pipelineArn",
    "retiredKeys",
    "pin",
    "amiParameter",
    "rolloutPolicy",
    "soakTime",
    "candidate",
    "targetAccounts",
    "accountsBehind",
)


def to_state(item: Item) -> AmiState:
    """The :class:`AmiState` a state item holds.

    Missing attributes take their defaults, so items written before an
    attribute existed (no ``history``, ``pin``, ``amiBuildId``, ...) read fine.
    """
    pk = text(item, "PK") or ""
    config = text(item, "config")
    history = item.get("history", {}).get("M", {})
    retired = item.get("retiredKeys", {}).get("L", [])
    targets = item.get("targetAccounts", {}).get("L", [])
    behind = item.get("accountsBehind", {}).get("M", {})
    return AmiState(
        preset=pk.removeprefix(STATE_PREFIX),
        status=_status(text(item, "status"), pk),
        updated_at=_when(item, "updatedAt"),
        build_id=text(item, "buildId"),
        reason=text(item, "reason"),
        order_key=text(item, "orderKey") or NO_KEY,
        ami_key=text(item, "amiKey") or NO_KEY,
        amis=to_amis(item, text(item, "amiBuildId") or text(item, "buildId")),
        config=json.loads(config) if config is not None else None,
        pipeline_arn=text(item, "pipelineArn"),
        ami_build_id=text(item, "amiBuildId"),
        ami_updated_at=_when(item, "amiUpdatedAt"),
        retired_keys=tuple(v["S"] for v in retired if "S" in v),
        history={k: to_build(k, v, pk) for k, v in history.items()},
        pin=to_pin(item),
        ami_parameter=text(item, "amiParameter"),
        rollout=to_rollout(item),
        candidate=to_candidate(item),
        target_accounts=tuple(v["S"] for v in targets if "S" in v),
        behind={a: v["S"] for a, v in behind.items() if "S" in v},
    )


def mapped_presets(item: Item | None) -> tuple[str, ...]:
    """The presets a pipeline mapping item holds, sorted.

    ``presets`` (SS) plus a legacy single ``preset`` (S) written before a
    pipeline could feed several presets, which is read as one more member.
    """
    if not item:
        return ()
    found = set(item.get("presets", {}).get("SS", []))
    legacy = text(item, "preset")
    if legacy:
        found.add(legacy)
    return tuple(sorted(found))


#: The mapping item's attribute holding one preset's target accounts (L of S).
ACCOUNTS_PREFIX = "accounts:"


def mapped_accounts(item: Item | None) -> dict[str, tuple[str, ...]]:
    """Each preset's target accounts a pipeline mapping item holds (``accounts:<preset>``)."""
    found: dict[str, tuple[str, ...]] = {}
    for name, value in (item or {}).items():
        if name.startswith(ACCOUNTS_PREFIX):
            listed = value.get("L", [])
            found[name.removeprefix(ACCOUNTS_PREFIX)] = tuple(v["S"] for v in listed if "S" in v)
    return found


__all__ = [
    "ACCOUNTS_PREFIX",
    "PIPELINE_PREFIX",
    "PIPELINE_SK",
    "TABLE_SCHEMA",
    "Item",
    "amis_attributes",
    "candidate_value",
    "entry_value",
    "mapped_accounts",
    "mapped_presets",
    "pin_value",
    "pipeline_key",
    "rejection_value",
    "state_key",
    "to_amis",
    "to_build",
    "to_pin",
    "to_state",
]
