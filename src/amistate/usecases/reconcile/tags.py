"""The in-use tag instructions of a plan: this deployment's keys, this run's presets.

Ownership (docs/operations.md, "Who owns an in-use tag"): a run writes and
removes only its own deployment's two keys (:class:`amistate.core.in_use.InUseKeys`),
and the legacy key only on AMIs it protects under its own. A run over every
preset recomputes the presets list of each AMI it needs or claims, so a deleted
preset's name disappears; a run over some presets (``reconcile PRESET``) adds
and removes only those presets' names, and releases an AMI only when the list
it read is complete and no name is left. A target account's copies are
tagged in that account, with the same keys, for the presets that list it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Set

from attrs import frozen

from amistate.core.amis import Place
from amistate.core.in_use import (
    LEGACY_KEY,
    NOTHING,
    PROTECTED,
    Holding,
    InUseKeys,
    holding,
    presets_value,
)


@frozen
class Tag:
    """Protect AMIs for the presets ``value`` names: this deployment's two keys, together."""

    region: str
    ami_ids: tuple[str, ...]
    value: str  # the presets tag's value (amistate.core.in_use.presets_value)
    keys: InUseKeys
    account: str | None = None  # a target account's copies (None: ours)

    @property
    def place(self) -> Place:
        return Place(self.region, self.account)

    @property
    def tags(self) -> dict[str, str]:
        return {self.keys.protect: PROTECTED, self.keys.presets: self.value}


@frozen
class Untag:
    """Remove ``keys`` from AMIs: this deployment's two once none of its presets needs
    them, or the legacy key from AMIs it now protects under its own."""

    region: str
    ami_ids: tuple[str, ...]
    keys: tuple[str, ...]
    account: str | None = None  # a target account's copies (None: ours)

    @property
    def place(self) -> Place:
        return Place(self.region, self.account)


#: place -> AMI -> the tags a run read (its keys only)
Tags = Mapping[Place, Mapping[str, Mapping[str, str]]]
#: place -> AMI -> the presets of this run that need it
Needed = Mapping[Place, Mapping[str, Set[str]]]


def tag_instructions(
    places: Iterable[Place],
    tags: Tags,
    needed: Needed,
    keys: InUseKeys,
    scope: frozenset[str] | None,
) -> Iterator[Tag | Untag]:
    """What makes each place's tags say what ``needed`` says; ``scope``: the presets
    the run reconciles (None: every preset of the deployment)."""
    for place in places:
        held = {ami: holding(found, keys) for ami, found in tags.get(place, {}).items()}
        wanted = needed.get(place, {})
        by_value: dict[str, list[str]] = defaultdict(list)
        release: list[str] = []
        legacy: list[str] = []
        for ami in sorted(set(held) | set(wanted)):
            have = held.get(ami, NOTHING)
            if scope is not None and ami not in wanted and not have.presets & scope:
                continue  # no preset of this run needs it or is named on it
            names, complete = _members(have, wanted.get(ami, set()), scope)
            if names or not complete:
                value = presets_value(names, complete)
                if not have.protected or have.value != value:
                    by_value[value].append(ami)
                if have.legacy:
                    legacy.append(ami)
            elif have.claimed:
                release.append(ami)
        region, account = place.region, place.account
        for value, amis in sorted(by_value.items()):
            yield Tag(region, tuple(amis), value, keys, account)
        if release:
            yield Untag(region, tuple(release), keys.owned, account)
        if legacy:
            yield Untag(region, tuple(legacy), (LEGACY_KEY,), account)


def _members(
    have: Holding, wanted: Set[str], scope: frozenset[str] | None
) -> tuple[frozenset[str], bool]:
    """The presets that need the AMI after this run, and whether that list is complete."""
    if scope is None or not have.claimed:
        return frozenset(wanted), True
    return (have.presets - scope) | frozenset(wanted), have.complete


__all__ = ["Needed", "Tag", "Tags", "Untag", "tag_instructions"]
