"""The one typed event the core works on, whatever shape it arrived in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from attrs import frozen

from amistate.core.arns import BuildArn

Origin = Literal["eventbridge", "sns", "reconcile"]


@frozen
class RegionalAmi:
    """One AMI a build distributed, in one region."""

    region: str
    ami_id: str


@frozen
class BuildEvent:
    """An Image Builder build reached ``status`` at ``time``.

    ``created`` (when the build started: ``dateCreated``) orders builds;
    ``time`` is only shown. ``amis``, ``pipeline_arn`` and ``created`` are
    ``None`` when the input did not carry them (EventBridge events never do:
    they come from ``GetImage``).
    """

    build: BuildArn
    status: str
    time: datetime  # timezone-aware, UTC
    reason: str | None = None
    amis: tuple[RegionalAmi, ...] | None = None
    pipeline_arn: str | None = None
    origin: Origin = "eventbridge"
    created: datetime | None = None

    @property
    def account(self) -> str:
        return self.build.account


def own_amis(entries: Iterable[Any], account: str) -> tuple[RegionalAmi, ...]:
    """The AMIs of ``outputResources.amis[]`` that ``account`` owns, one per region.

    An entry without ``accountId`` is the build's own (Image Builder omits it
    for single-account distributions); entries of other accounts are dropped.
    """
    seen: dict[str, RegionalAmi] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        region, image = entry.get("region"), entry.get("image")
        owner = entry.get("accountId")
        if not isinstance(region, str) or not isinstance(image, str):
            continue
        if owner is not None and owner != account:
            continue
        seen.setdefault(region, RegionalAmi(region=region, ami_id=image))
    return tuple(seen.values())
