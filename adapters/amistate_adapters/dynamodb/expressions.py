"""The UpdateItem expressions of the state store, built without a client.

Every attribute name goes through ``ExpressionAttributeNames`` (reserved words
such as ``status`` and the history's ordering keys, which hold ``#`` and ``:``,
are never a problem). :class:`Update` is one ``UpdateItem``'s expressions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from attrs import field, frozen

from amistate.core.amis import Amis
from amistate.core.rules import Transition
from amistate.core.state import NO_KEY, BuildRecord
from amistate_adapters.dynamodb.items import (
    EMPTY_MAP,
    NULL,
    amis_attributes,
    candidate_value,
    entry_value,
    pin_value,
    rejection_value,
    s,
    time_text,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    from amistate.core.builds import TrimBasis
    from amistate.core.state_parts import Candidate, Pin, Rejection, RolloutBasis

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
    "#copies": "copies",
    "#amiBuildId": "amiBuildId",
    "#amiUpdatedAt": "amiUpdatedAt",
    "#createdAt": "createdAt",
    "#config": "config",
    "#pipelineArn": "pipelineArn",
    "#retiredKeys": "retiredKeys",
    "#targetAccounts": "targetAccounts",
    "#accountsBehind": "accountsBehind",
    "#history": "history",
    "#pin": "pin",
    "#amiParameter": "amiParameter",
    "#preset": "preset",
    "#presets": "presets",
    "#rolloutPolicy": "rolloutPolicy",
    "#soakTime": "soakTime",
    "#candidate": "candidate",
    "#cKey": "key",
    "#rejection": "rejection",
}


@frozen
class Update:
    """One UpdateItem's expressions; ``names`` are the dynamic placeholders (``#hk``)."""

    update: str
    condition: str | None = None
    values: Mapping[str, AttributeValueTypeDef] = field(factory=dict)
    names: Mapping[str, str] = field(factory=dict)

    def request(self) -> dict[str, Any]:
        """The UpdateItem keyword arguments (without table, key and ReturnValues)."""
        text = f"{self.update} {self.condition or ''}"
        names = {k: v for k, v in _NAMES.items() if uses(text, k)} | dict(self.names)
        request: dict[str, Any] = {
            "UpdateExpression": self.update,
            "ExpressionAttributeNames": names,
        }
        if self.condition:
            request["ConditionExpression"] = self.condition
        if self.values:
            request["ExpressionAttributeValues"] = dict(self.values)
        return request


def uses(text: str, placeholder: str) -> bool:
    """True if ``placeholder`` occurs in ``text`` as a whole token (``#amis`` is not ``#amiId``)."""
    start = text.find(placeholder)
    while start != -1:
        end = start + len(placeholder)
        if end == len(text) or not (text[end].isalnum() or text[end] == "_"):
            return True
        start = text.find(placeholder, end)
    return False


def _status_register(transition: Transition) -> tuple[list[str], list[str], dict[str, Any]]:
    """(sets, removes, values) of the status register, and the condition values."""
    values: dict[str, AttributeValueTypeDef] = {}
    removes: list[str] = []
    if transition.register == "all":
        sets = ["#status = :status", "#updatedAt = :updatedAt", "#buildId = :buildId"]
        sets.append("#orderKey = :key")
        values[":status"] = s(transition.status)
        if transition.reason is None:
            removes.append("#reason")
        else:
            sets.append("#reason = :reason")
            values[":reason"] = s(transition.reason)
    else:
        sets = [
            "#status = if_not_exists(#status, :building)",
            "#updatedAt = if_not_exists(#updatedAt, :null)",
            "#buildId = if_not_exists(#buildId, :null)",
            "#orderKey = if_not_exists(#orderKey, :noKey)",
        ]
        values |= {":building": s("building"), ":null": NULL, ":noKey": s(NO_KEY)}
    return sets, removes, values


def _ami_register(transition: Transition) -> tuple[list[str], dict[str, Any]]:
    if transition.sets_ami and transition.slot == "candidate":
        # The record has a live AMI (the condition says so): only the candidate changes.
        return ["#candidate = :candidate"], {":candidate": candidate_value(_candidate(transition))}
    if transition.sets_ami:
        sets = ["#amiId = :amiId", "#amis = :amis", "#copies = :copies", "#amiKey = :key"]
        sets += ["#amiBuildId = :buildId", "#amiUpdatedAt = :updatedAt"]
        return sets, _amis_values(transition.amis)
    sets = [
        "#amiId = if_not_exists(#amiId, :null)",
        "#amis = if_not_exists(#amis, :noAmis)",
        "#amiKey = if_not_exists(#amiKey, :noKey)",
        "#amiBuildId = if_not_exists(#amiBuildId, :null)",
        "#amiUpdatedAt = if_not_exists(#amiUpdatedAt, :null)",
    ]
    return sets, {":null": NULL, ":noAmis": EMPTY_MAP, ":noKey": s(NO_KEY)}


def _amis_values(amis: Amis) -> dict[str, AttributeValueTypeDef]:
    """``:amiId``, ``:amis``, ``:copies`` of the AMI register (copies always set)."""
    return {f":{name}": value for name, value in amis_attributes(amis, always=True).items()}


def _apply_conditions(transition: Transition) -> tuple[str, str]:
    """``applies_to`` as (the nested form's condition, the whole form's: no history map)."""
    if transition.register == "all":
        # An item the catalog created (config only) has no orderKey yet.
        nested = whole = "(attribute_not_exists(#orderKey) OR #orderKey < :key)"
    else:
        # A missing item takes any transition (as applies_to(None) does); an
        # existing one needs amiKey < key < orderKey, and the build not in its
        # history. Comparisons with a missing attribute are false, so a
        # config-only item rejects it.
        between = "#amiKey < :key AND #orderKey > :key"
        whole = f"(attribute_not_exists(#pk) OR ({between}))"
        nested = (
            f"(attribute_not_exists(#pk) OR ({between} AND attribute_not_exists(#history.#hk)))"
        )
    if transition.pipeline_arn is not None:
        # The record follows the build's pipeline (rules.moved): checked in the same write.
        follows = " AND (attribute_not_exists(#pipelineArn) OR #pipelineArn = :pipelineArn)"
        nested, whole = nested + follows, whole + follows
    if transition.sets_ami:
        slot = " AND " + _SLOT_CONDITIONS[transition.slot]
        nested, whole = nested + slot, whole + slot
    return nested, whole


#: ``rollout.slot_for`` (and, for a candidate, ``rules._newer_candidate``) as conditions.
_SLOT_CONDITIONS = {
    "live": "(attribute_not_exists(#rolloutPolicy) OR #rolloutPolicy = :immediate"
    " OR NOT attribute_type(#amiId, :stringType))",
    "candidate": "(#rolloutPolicy IN (:manual, :soak) AND attribute_type(#amiId, :stringType)"
    " AND #amiKey < :key AND (attribute_not_exists(#candidate) OR #candidate.#cKey < :key))",
}
_SLOT_VALUES: dict[str, AttributeValueTypeDef] = {
    ":immediate": s("immediate"),
    ":manual": s("manual"),
    ":soak": s("soak"),
    ":stringType": s("S"),
}


def _candidate(transition: Transition) -> Candidate:
    from amistate.core.state_parts import Candidate

    return Candidate(transition.build_id, transition.key, transition.updated_at, transition.amis)


def apply_updates(transition: Transition) -> tuple[Update, Update]:
    """(nested, whole): the two forms of one transition's write, enforcing ``applies_to``.

    *nested* adds the history entry with ``SET #history.#hk = :entry`` (needs the
    map to exist); *whole* is for a record without the map (written before
    history existed, or no item at all): ``SET #history = {key: entry}``,
    conditioned on ``attribute_not_exists(#history)`` as well, so it can never
    replace a history another writer created meanwhile.
    """
    nested_condition, condition = _apply_conditions(transition)
    sets, removes, values = _status_register(transition)
    if transition.pipeline_arn is not None:
        values[":pipelineArn"] = s(transition.pipeline_arn)
    if transition.sets_ami:
        values |= {k: v for k, v in _SLOT_VALUES.items() if uses(nested_condition, k)}
    ami_sets, ami_values = _ami_register(transition)
    values |= ami_values | {
        ":key": s(transition.key),
        ":buildId": s(transition.build_id),
        ":updatedAt": s(time_text(transition.updated_at)),
        ":entry": entry_value(transition.entry),
    }
    remove = " REMOVE " + ", ".join(removes) if removes else ""
    base = "SET " + ", ".join(sets + ami_sets)
    nested = Update(
        f"{base}, #history.#hk = :entry{remove}", nested_condition, values, {"#hk": transition.key}
    )
    whole_values = {k: v for k, v in values.items() if k != ":entry"}
    whole_values[":history"] = {"M": {transition.key: entry_value(transition.entry)}}
    whole = Update(
        f"{base}, #history = :history{remove}",
        f"{condition} AND attribute_not_exists(#history)",
        whole_values,
    )
    return nested, whole


def keep_updates(build: BuildRecord) -> tuple[Update, Update]:
    """(nested, whole) of ``keep_build``: add the entry if absent, on an existing record."""
    entry = entry_value(build)
    nested = Update(
        "SET #history.#hk = :entry",
        "attribute_exists(#pk) AND attribute_not_exists(#history.#hk)",
        {":entry": entry},
        {"#hk": build.key},
    )
    whole = Update(
        "SET #history = :history",
        "attribute_exists(#pk) AND attribute_not_exists(#history)",
        {":history": {"M": {build.key: entry}}},
    )
    return nested, whole


def forget_update(keys: list[str], basis: TrimBasis) -> Update:
    """``REMOVE`` these history entries (distinct keys: overlapping paths are refused),
    while the AMI register's key and the pin are still ``basis``'s."""
    names = {f"#k{i}": key for i, key in enumerate(keys)}
    paths = ", ".join(f"#history.{name}" for name in names)
    values: dict[str, AttributeValueTypeDef] = {":amiKey": s(basis.ami_key)}
    if basis.pin_build_id is None:
        pinned = "(attribute_not_exists(#pin) OR attribute_type(#pin, :nullType))"
        values[":nullType"] = s("NULL")
    else:
        pinned = "#pin.#buildId = :pinBuild"
        values[":pinBuild"] = s(basis.pin_build_id)
    kept = "".join(f" AND attribute_not_exists(#history.{name}.#rejection)" for name in names)
    condition = f"attribute_exists(#pk) AND #amiKey = :amiKey AND {pinned}{kept}"
    return Update(f"REMOVE {paths}", condition, values, names)


def fall_back_update(ami_key: str, to: BuildRecord) -> Update:
    """The AMI register to ``to``'s build, its ordering key included, iff still at ``ami_key``.

    Every write of the AMI register sets a new ``amiKey``, so an unchanged key
    is an unchanged register (in every region). A rejected ``to`` is refused.
    """
    sets, values = _register_to(to)
    return Update(
        "SET " + sets,
        "#amiKey = :key AND attribute_not_exists(#history.#toKey.#rejection)",
        values | {":key": s(ami_key)},
        {"#toKey": to.key},
    )


def _register_to(to: BuildRecord) -> tuple[str, dict[str, AttributeValueTypeDef]]:
    """The SETs (and values) that put ``to``'s build in the AMI register, key included."""
    return (
        "#amiId = :amiId, #amis = :amis, #copies = :copies, #amiBuildId = :buildId, "
        "#amiUpdatedAt = :updatedAt, #amiKey = :toKey",
        {
            **_amis_values(to.amis),
            ":buildId": s(to.build_id),
            ":updatedAt": s(time_text(to.updated_at)),
            ":toKey": s(to.key),
        },
    )


def promote_update(candidate: Candidate) -> Update:
    """The candidate into the AMI register, iff it is still the candidate and newer."""
    return Update(
        "SET #amiId = :amiId, #amis = :amis, #copies = :copies, #amiBuildId = :buildId, "
        "#amiUpdatedAt = :updatedAt, #amiKey = :key REMOVE #candidate",
        "#candidate.#cKey = :key AND #candidate.#buildId = :buildId AND #amiKey < :key",
        {
            **_amis_values(candidate.amis),
            ":buildId": s(candidate.build_id),
            ":updatedAt": s(time_text(candidate.completed_at)),
            ":key": s(candidate.key),
        },
    )


def reject_update(
    key: str, rejection: Rejection, basis: RolloutBasis, to: BuildRecord | None
) -> Update:
    """Mark history entry ``key`` rejected while the record still has ``basis``;
    drop the candidate if it is that build; ``to`` into the AMI register if it holds it."""
    values: dict[str, AttributeValueTypeDef] = {
        ":rejection": rejection_value(rejection),
        ":amiKey": s(basis.ami_key),
    }
    sets = "#history.#hk.#rejection = :rejection"
    condition = "attribute_exists(#history.#hk) AND #amiKey = :amiKey"
    if basis.candidate_key is None:
        condition += " AND attribute_not_exists(#candidate)"
    else:
        condition += " AND #candidate.#cKey = :candidateKey"
        values[":candidateKey"] = s(basis.candidate_key)
    if basis.pin_build_id is None:
        condition += " AND (attribute_not_exists(#pin) OR attribute_type(#pin, :nullType))"
        values[":nullType"] = s("NULL")
    else:
        condition += " AND #pin.#buildId = :pinBuild"
        values[":pinBuild"] = s(basis.pin_build_id)
    if to is not None and basis.ami_key == key:
        register, register_values = _register_to(to)
        sets += ", " + register
        values |= register_values
    drop = " REMOVE #candidate" if basis.candidate_key == key else ""
    return Update(f"SET {sets}{drop}", condition, values, {"#hk": key})


def pin_update(pin: Pin | None, expected: str | None, history_key: str | None) -> Update:
    """Set the pin (``history_key``: its good history entry) or, with None, remove it.

    Both conditioned on the current pin's build being ``expected`` (None: no pin).
    """
    values: dict[str, AttributeValueTypeDef] = {}
    condition = "attribute_exists(#pk) AND "
    if expected is None:
        condition += "attribute_not_exists(#pin)"
    else:
        condition += "#pin.#buildId = :expected"
        values[":expected"] = s(expected)
    if pin is None:
        return Update("REMOVE #pin", condition, values)
    assert history_key is not None
    condition += (
        " AND #history.#hk.#status = :ready AND #history.#hk.#buildId = :pinBuild"
        " AND attribute_type(#history.#hk.#amiId, :string)"
        " AND attribute_not_exists(#history.#hk.#rejection)"
    )
    values |= {
        ":pin": pin_value(pin),
        ":ready": s("ready"),
        ":pinBuild": s(pin.build_id),
        ":string": s("S"),
    }
    return Update("SET #pin = :pin", condition, values, {"#hk": history_key})


def behind_update(behind: Mapping[str, str]) -> Update:
    """``accountsBehind`` (account -> why) on an existing record; removed when empty."""
    if not behind:
        return Update("REMOVE #accountsBehind", "attribute_exists(#pk)")
    value: AttributeValueTypeDef = {"M": {a: s(why) for a, why in sorted(behind.items())}}
    return Update("SET #accountsBehind = :behind", "attribute_exists(#pk)", {":behind": value})


__all__ = [
    "Update",
    "apply_updates",
    "behind_update",
    "fall_back_update",
    "forget_update",
    "keep_updates",
    "pin_update",
    "promote_update",
    "reject_update",
    "uses",
]
