"""The in-use tags: which AMIs a deployment protects, and for which of its presets.

A deployment (one table, in practice one stack) owns two tag keys and touches
no other (docs/operations.md, "Who owns a tag"):

* ``amistate:in-use:<deployment>`` = ``true``: the protection. Its value never
  changes, so one exact-match lifecycle exclusion (an Image Builder ``TagMap``
  holds one value per key) spares every AMI the deployment needs, whatever
  presets share its pipelines;
* ``amistate:in-use:<deployment>:presets``: the deployment's presets that need
  the AMI, sorted, comma-separated, so a run over some presets adds and removes
  only theirs. EC2 allows 256 characters: a longer list keeps the names that fit
  and ends in ``+`` ("and others"), and such an AMI stays protected until a run
  over every preset rewrites the list.

:data:`LEGACY_KEY` is what releases before these keys wrote (one shared key for
every deployment, the presets in its value); a run removes it from the AMIs it
protects under its own key, and leaves it alone everywhere else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from attrs import frozen

from amistate.core.names import PRESET_NAME

#: The prefix of every in-use tag key.
PREFIX = "amistate:in-use"
#: The key every deployment shared before keys were per deployment.
LEGACY_KEY = PREFIX
#: The protection key's one value.
PROTECTED = "true"
#: Ends a presets list that had to be cut: more presets need the AMI.
MORE = "+"
#: EC2 allows 256 characters in a tag value, 128 in a key.
VALUE_MAX = 256
KEY_MAX = 128
#: The longest deployment ID: ``amistate:in-use:<id>:presets`` stays within KEY_MAX.
DEPLOYMENT_MAX = KEY_MAX - len(PREFIX) - len(":") - len(":presets")
_DIGEST = 8


def deployment_id(name: str) -> str:
    """``name`` as it appears in the tag keys: itself if short enough, else cut to
    :data:`DEPLOYMENT_MAX` characters ending in a hash of the whole name (deterministic,
    so the reconciler and the CDK example compute the same key)."""
    if len(name) <= DEPLOYMENT_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_DIGEST]
    return f"{name[: DEPLOYMENT_MAX - _DIGEST - 1]}-{digest}"


def table_deployment(table: str, home_region: str) -> str:
    """The deployment name a table stands for: ``<region>/<table name>``.

    The region is the table's (from its ARN, else the home region): two stacks in
    two regions may both name their table ``spot-runner`` and tag AMIs in a region
    they share.
    """
    if table.startswith("arn:"):
        head, _, name = table.partition(":table/")
        return f"{head.split(':')[3]}/{name}"
    return f"{home_region}/{table}"


@frozen
class InUseKeys:
    """The tag keys of one deployment."""

    deployment: str  # as in the keys (:func:`deployment_id`)

    @classmethod
    def of(cls, name: str) -> InUseKeys:
        return cls(deployment_id(name))

    @property
    def protect(self) -> str:
        return f"{PREFIX}:{self.deployment}"

    @property
    def presets(self) -> str:
        return f"{self.protect}:presets"

    @property
    def owned(self) -> tuple[str, str]:
        """The two keys this deployment writes and removes."""
        return (self.protect, self.presets)

    @property
    def read(self) -> tuple[str, str, str]:
        """The keys a run reads: its own two and the legacy one."""
        return (self.protect, self.presets, LEGACY_KEY)


def presets_value(presets: Iterable[str], complete: bool = True) -> str:
    """The presets tag's value: the names sorted and comma-joined; ``+`` at the end
    when the list is not ``complete`` or does not fit in :data:`VALUE_MAX`."""
    names = sorted(set(presets))
    joined = ",".join(names)
    if complete and len(joined) <= VALUE_MAX:
        return joined
    shown: list[str] = []
    for name in names:
        if len(",".join([*shown, name, MORE])) > VALUE_MAX:
            break
        shown.append(name)
    return ",".join([*shown, MORE])


@frozen
class Holding:
    """What one AMI's tags say about this deployment's claim on it."""

    protected: bool = False  # carries the protection key
    value: str | None = None  # the presets tag's value, None when absent
    presets: frozenset[str] = frozenset()  # the names that value lists
    complete: bool = True  # the names are all of this deployment's presets that need it
    legacy: bool = False  # carries LEGACY_KEY

    @property
    def claimed(self) -> bool:
        """Carries a key of this deployment."""
        return self.protected or self.value is not None


NOTHING = Holding()


def holding(tags: Mapping[str, str], keys: InUseKeys) -> Holding:
    """Read one AMI's tags. A presets value this module did not write (a name that is
    not a preset name, or no value at all on a protected AMI) counts as incomplete:
    a run over some presets then never removes the protection."""
    protected = keys.protect in tags
    value = tags.get(keys.presets)
    names: set[str] = set()
    complete = value is not None or not protected
    for part in (value or "").split(","):
        if part == MORE or (part and not PRESET_NAME.fullmatch(part)):
            complete = False
        elif part:
            names.add(part)
    return Holding(protected, value, frozenset(names), complete, LEGACY_KEY in tags)


__all__ = [
    "DEPLOYMENT_MAX",
    "LEGACY_KEY",
    "MORE",
    "NOTHING",
    "PREFIX",
    "PROTECTED",
    "VALUE_MAX",
    "Holding",
    "InUseKeys",
    "deployment_id",
    "holding",
    "presets_value",
    "table_deployment",
]
