"""The value a preset's SSM parameter should hold: desired state, not a patch.

The runners read ``/spot-runner/configs/<preset>``. Its desired value is a
function of four things and nothing else, so writing it twice, late, or from
two writers at once converges on the same bytes:

* the value there now (keys nobody configured, written by others, stay with
  their JSON types);
* the preset's Config as the stack deployed it (its keys win);
* the *retired* keys: keys an earlier Config had that the current one lacks
  (the stack owned them, so they are removed, even if a push was missed);
* the AMI (``amiId``), which the record or the operator's pin decides, and
  the waiting candidate's (``candidateAmiId``, only while one waits and no
  pin holds: :mod:`amistate.core.rollout`).

:func:`parameter_value` is that function; :func:`retire` is how a deploy
updates the retired keys. Every writer (event, deploy, sync, reconcile) uses
the first, so a missed push heals at the next write.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from amistate.core.merge import AMI_ID_KEY, CANDIDATE_AMI_ID_KEY, dump_object, load_object
from amistate.core.state import AmiState
from amistate.errors import InvalidConfig

#: Keys the stack can never own: amistate writes them itself.
RESERVED_KEYS = frozenset({AMI_ID_KEY, CANDIDATE_AMI_ID_KEY})


def retire(
    old_config: Mapping[str, Any] | None,
    new_config: Mapping[str, Any],
    retired: Iterable[str] = (),
) -> tuple[str, ...]:
    """The retired keys after deploying ``new_config`` over ``old_config``.

    Grow-only except for keys the new Config owns again: a key retired twice is
    retired once, and re-adding a key to the Config un-retires it. Sorted, so
    the result is the same whatever order the deploys' retries arrive in.
    """
    gone = set(retired) | set(old_config or {})
    return tuple(sorted(gone - set(new_config) - RESERVED_KEYS))


def parameter_value(
    current: str | None,
    config: Mapping[str, Any] | None,
    ami_id: str,
    retired: Iterable[str] = (),
    candidate_ami_id: str | None = None,
) -> str:
    """The parameter's desired value.

    ``current`` is returned unchanged, byte for byte, when it already means the
    desired value (same keys, same JSON values and types), so a caller can skip
    the write. A ``current`` that is not a JSON object is never overwritten:
    :class:`amistate.errors.InvalidConfig` is raised instead.
    """
    base = {} if current is None else load_object(current, "SSM parameter value")
    gone = set(retired)
    wanted = {key: value for key, value in base.items() if key not in gone}
    wanted.update({k: v for k, v in (config or {}).items() if k not in RESERVED_KEYS})
    wanted[AMI_ID_KEY] = ami_id
    wanted.pop(CANDIDATE_AMI_ID_KEY, None)
    if candidate_ami_id is not None:
        wanted[CANDIDATE_AMI_ID_KEY] = candidate_ami_id
    if current is not None and same_json(wanted, base):
        return current
    return dump_object(wanted)


def desired_value(
    record: AmiState, region: str, current: str | None, *, account: str | None = None
) -> str | None:
    """What the parameter of ``region`` in ``account`` (None: ours) should hold
    for ``record`` (pin, Config, retired keys, candidate), given its ``current``
    value; None while the record has no AMI there. The service's writes and the
    reconcile planner both ask this."""
    ami = record.ami_for(region, account=account)
    if ami is None:
        return None
    candidate = record.candidate_ami_for(region, account=account)
    return parameter_value(current, record.config, ami, record.retired_keys, candidate)


def written_by_others(
    record: AmiState, versions: Sequence[str], start: int, ours: str
) -> str | None:
    """The version among ``versions[start:]`` whose keys amistate does not own
    must win over ``ours``; None if ours may stay.

    ``versions`` are a parameter's values oldest first (every one before our
    write), ``versions[start:]`` those written between amistate's read and its
    write, ``ours`` the value it wrote. amistate never changes the keys it does
    not own (:func:`owned_keys`): it copies them, as they were in what it read.
    So each state of those keys (all of them, with their values) was made by
    someone else at the first version that has it, its *origin*, and later
    versions with the same state are copies. The state with the newest origin
    is the newest thing someone else wrote: a version in between with a newer
    origin than ours is what our write replaced and must keep. A copy of an
    older state (another amistate write made from an older read, which that
    write's own check repairs) is not.
    """
    owned = owned_keys(record)
    states = [_others(value, owned) for value in versions]
    origin: dict[str, int] = {}
    for index, state in enumerate(states):
        if state is not None:
            origin.setdefault(state, index)
    mine = _others(ours, owned)
    best = origin.get(mine, -1) if mine is not None else -1
    newest: str | None = None
    for index in range(start, len(versions)):
        state = states[index]
        if state is not None and origin[state] > best:
            best, newest = origin[state], versions[index]
    return newest


def owned_keys(record: AmiState) -> frozenset[str]:
    """The keys amistate writes in ``record``'s parameters: its own, its
    Config's, and the retired ones it removes."""
    return RESERVED_KEYS | set(record.config or {}) | set(record.retired_keys)


def _others(value: str, owned: frozenset[str]) -> str | None:
    """The keys of ``value`` amistate does not own, canonical; None if not an object."""
    try:
        parsed = load_object(value, "SSM parameter value")
    except InvalidConfig:
        return None
    return _canonical({k: v for k, v in parsed.items() if k not in owned})


def same_json(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Equal as JSON: ``1``, ``1.0`` and ``true`` differ; key order does not matter."""
    plain = _same(a, b)
    return plain if plain is not None else _canonical(a) == _canonical(b)


#: The types a parsed JSON document is made of, compared without serialising.
_SCALARS = (str, int, bool, type(None))


def _same(a: object, b: object) -> bool | None:
    """:func:`same_json` for values made only of dicts with string keys, lists, strings,
    integers, booleans, None and floats, without serialising (the hot path: every
    converge asks it); None when either holds anything else (the caller serialises)."""
    if a is b:
        return True  # one object (a value copied from what was read): nothing to compare
    kind = type(a)
    if kind is not type(b):
        plain = all(type(v) in (dict, list, float, *_SCALARS) for v in (a, b))
        return False if plain else None
    if kind in _SCALARS:
        return a == b
    if kind is dict:
        x, y = cast("dict[object, object]", a), cast("dict[object, object]", b)
        if not all(type(k) is str for k in x) or x.keys() != y.keys():
            return None if not all(type(k) is str for k in (*x, *y)) else False
        for key, value in x.items():
            found = _same(value, y[key])
            if found is not True:
                return found
        return True
    if kind is list:
        xs, ys = cast("list[object]", a), cast("list[object]", b)
        if len(xs) != len(ys):
            return False
        for x_item, y_item in zip(xs, ys, strict=True):
            found = _same(x_item, y_item)
            if found is not True:
                return found
        return True
    if kind is float:
        return repr(a) == repr(b) if math.isfinite(cast(float, a)) else None
    return None


def _canonical(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def drift(current: str | None, desired: str) -> tuple[str, ...]:
    """What differs between a parameter and its desired value, for operators.

    ``("amiId",)`` when only the AMI differs, the config keys that differ
    (added, changed or to be removed) otherwise; ``()`` when in sync.
    """
    if current is None:
        return ("missing",)
    if current == desired:
        return ()
    have = load_object(current, "SSM parameter value")
    want = load_object(desired, "desired value")
    keys = sorted(
        key
        for key in set(have) | set(want)
        if key not in have or key not in want or not same_json({"v": have[key]}, {"v": want[key]})
    )
    return tuple(keys)


__all__ = [
    "RESERVED_KEYS",
    "desired_value",
    "drift",
    "owned_keys",
    "parameter_value",
    "retire",
    "same_json",
    "written_by_others",
]
