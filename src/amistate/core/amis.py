"""Where a build's AMIs live: one AMI ID per (account, region).

Image Builder distributes one build to several regions and accounts, and
``outputResources.amis[]`` lists one copy per place. :class:`Amis` is the one
value every layer uses for that (the event, Image Builder's facts, the record's
AMI register, its history and its pin, the planner and the outputs), so no
layer converts between shapes. The account is ``None`` for amistate's own
account (the build's: Image Builder omits ``accountId`` for it), else the
12-digit ID of a target account.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from attrs import field, frozen


@frozen
class Place:
    """One region of one account (``account`` None: amistate's own)."""

    region: str
    account: str | None = None

    def __str__(self) -> str:
        return self.region if self.account is None else f"{self.account}/{self.region}"


def _places(value: Mapping[Place, str]) -> Mapping[Place, str]:
    if len(value) < 2:
        return dict(value)  # one region, one account: nothing to order (the common build)
    return dict(sorted(value.items(), key=lambda kv: (kv[0].account or "", kv[0].region)))


@frozen
class Amis:
    """One build's AMIs by place, and its home AMI.

    ``home`` is the AMI of amistate's own region in its own account (the
    record's ``amiId``): None for a failure, and for an event whose AMIs no
    rule has looked at yet.
    """

    home: str | None = None
    places: Mapping[Place, str] = field(factory=dict, converter=_places)

    @classmethod
    def of(
        cls,
        regional: Mapping[str, str],
        home_region: str | None = None,
        copies: Mapping[str, Mapping[str, str]] | None = None,
    ) -> Amis:
        """Own account's AMIs by region (``home_region``'s is the home AMI), plus
        ``copies`` (target account -> region -> AMI)."""
        places = {Place(r): ami for r, ami in regional.items()}
        for account, by_region in (copies or {}).items():
            places.update({Place(r, account): ami for r, ami in by_region.items()})
        home = regional.get(home_region) if home_region is not None else None
        return cls(home, places)

    def at(self, region: str, account: str | None = None) -> str | None:
        """The AMI in ``region`` of ``account`` (None: amistate's own), if any."""
        return self.places.get(Place(region, account))

    def regional(self, account: str | None = None) -> dict[str, str]:
        """One account's AMIs by region."""
        return {p.region: ami for p, ami in self.places.items() if p.account == account}

    @property
    def accounts(self) -> tuple[str, ...]:
        """The target accounts holding a copy, sorted."""
        return tuple(sorted({p.account for p in self.places if p.account is not None}))

    def copies(self) -> dict[str, dict[str, str]]:
        """Target account -> region -> AMI (amistate's own account left out)."""
        return {account: self.regional(account) for account in self.accounts}

    def document(self) -> dict[str, Any]:
        """The outputs' rendering (logs, ``--json``): ``amis`` (ours, region -> AMI)
        and, when any target account holds a copy, ``copies`` (account -> region -> AMI)."""
        out: dict[str, Any] = {"amis": self.regional()}
        if self.accounts:
            out["copies"] = self.copies()
        return out

    @property
    def ids(self) -> frozenset[str]:
        """Every AMI ID, home included."""
        return frozenset(self.places.values()) | ({self.home} if self.home else set())

    def kept(self, regions: Iterable[str]) -> Amis:
        """Only the places in ``regions`` (amistate's regions, in every account:
        which accounts a preset trusts is :meth:`amistate.state.AmiState.ami_for`'s rule)."""
        wanted = set(regions)
        return Amis(self.home, {p: a for p, a in self.places.items() if p.region in wanted})

    def trusted(self, accounts: Iterable[str]) -> Amis:
        """Only our own copies and those of ``accounts`` (a preset's target accounts):
        what its record keeps."""
        listed = {None, *accounts}
        return Amis(self.home, {p: a for p, a in self.places.items() if p.account in listed})

    def with_home(self, region: str) -> Amis:
        """These AMIs with ``region``'s own AMI as the home AMI."""
        return Amis(self.at(region), self.places)

    def __bool__(self) -> bool:
        return bool(self.places) or self.home is not None


NO_AMIS = Amis()


def amis_of(entries: Iterable[Any], account: str) -> Amis:
    """``outputResources.amis[]`` of a build of ``account``, by place.

    An entry without ``accountId``, or with ``account``'s, is amistate's own
    (Image Builder omits it for single-account distributions); other accounts'
    copies are kept under their ID (a preset trusts only its target accounts:
    :meth:`amistate.state.AmiState.ami_for`). The first entry of a place wins; malformed entries are
    skipped.
    """
    seen: dict[Place, str] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        region, image = entry.get("region"), entry.get("image")
        owner = entry.get("accountId")
        if not isinstance(region, str) or not isinstance(image, str):
            continue
        if owner is not None and not isinstance(owner, str):
            continue
        seen.setdefault(Place(region, None if owner in (None, account) else owner), image)
    return Amis(places=seen)


__all__ = ["NO_AMIS", "Amis", "Place", "amis_of"]
