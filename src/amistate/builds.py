"""Reading a preset's build history, and choosing a build to pin.

The history and the pin live on the state record (:class:`amistate.state.AmiState`);
these are the questions operators and the reconciler ask of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from amistate.state import BuildRecord, Pin, newest_first

#: How many good AMIs before the one in use stay protected by the in-use tag.
PROTECTED_PREVIOUS = 2


def good_builds(builds: Iterable[BuildRecord]) -> list[BuildRecord]:
    """The builds whose AMI could be used, newest first."""
    return [b for b in newest_first(builds) if b.good]


def pin_to(build: BuildRecord, at: datetime, reason: str | None = None) -> Pin:
    """The pin that holds ``build``'s AMIs (a good build only)."""
    if not build.good or build.ami_id is None:
        raise ValueError(f"build {build.build_id} has no good AMI to pin")
    return Pin(build.build_id, build.ami_id, dict(build.amis), at, reason)


def find_build(builds: Iterable[BuildRecord], ami_or_build: str) -> BuildRecord | None:
    """The good build that produced an AMI (in any region) or has this build ARN."""
    for build in good_builds(builds):
        if ami_or_build in (build.build_id, build.ami_id, *build.amis.values()):
            return build
    return None


__all__ = [
    "PROTECTED_PREVIOUS",
    "find_build",
    "good_builds",
    "pin_to",
]
