"""``promote`` and ``reject``: the operator's part of a rollout.

Each goes through :class:`amistate.usecases.promotions.Promotions` (a conditional write,
then the service's write-and-confirm loop), then reads back what every
region's parameter holds. Nothing to promote or reject
(:class:`~amistate.errors.NoCandidate`, :class:`~amistate.errors.RejectRefused`)
writes nothing and exits 1, as every amistate refusal does.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import render
from .pins import report

if TYPE_CHECKING:
    from amistate.usecases.promotions import RolloutChange
    from amistate.wiring.compose import Runtime


def add_parsers(commands: Any, options: Sequence[argparse.ArgumentParser]) -> None:
    """The ``promote`` and ``reject`` subcommands."""
    promote = commands.add_parser(
        "promote",
        parents=options,
        help="make PRESET's waiting candidate live (exit 1 when none waits)",
        description="Make PRESET's candidate (a newer good build a manual or soak rollout holds "
        "back) its live AMI, then converge every region's parameter. A pin still holds.",
    )
    promote.add_argument("preset", metavar="PRESET")
    reject = commands.add_parser(
        "reject",
        parents=options,
        help="reject a build for good (default: the candidate)",
        description="Mark a good build of PRESET rejected: no event, reconcile run, sync, "
        "rollback or fallback makes it live or candidate again. Rejecting the live build falls "
        "back to the newest good build older than it. Exit 1 when there is nothing to reject.",
    )
    reject.add_argument("preset", metavar="PRESET")
    reject.add_argument("target", metavar="BUILD_ARN|AMI_ID", nargs="?")
    reject.add_argument("--reason", metavar="TEXT", help="why (kept in the history)")


def add_init_flags(init: argparse.ArgumentParser) -> None:
    """``init --rollout-policy POLICY --soak-time DURATION`` (the custom resource's properties)."""
    init.add_argument(
        "--rollout-policy",
        metavar="POLICY",
        help="immediate (default: a newer good build goes live at once), manual (it waits as "
        "candidate for `promote`) or soak (it waits --soak-time)",
    )
    init.add_argument(
        "--soak-time", metavar="DURATION", help="ISO-8601, e.g. PT6H (required with soak)"
    )


def run(args: argparse.Namespace, rt: Runtime) -> int:
    """``amistate promote|reject``."""
    if args.command == "promote":
        change = rt.promotions.promote(args.preset)
    else:
        change = rt.promotions.reject(args.preset, args.target, args.reason)
    first = {
        "preset": change.preset,
        "action": change.action,
        "buildId": change.build_id,
        "fellBackTo": change.fell_back_to,
    }
    return report(rt, change.preset, first, change.ami_id, _headline(change), args.json)


def _headline(change: RolloutChange) -> str:
    build = render.build(change.build_id)
    if change.action == "promoted":
        return f"{change.preset}: promoted {build}; it is live"
    if change.action == "unchanged":
        return f"{change.preset}: {build} was already rejected; nothing changed"
    after = f"; live again: {render.build(change.fell_back_to)}" if change.fell_back_to else ""
    return f"{change.preset}: rejected {build}{after}"


__all__ = ["add_init_flags", "add_parsers", "run"]
