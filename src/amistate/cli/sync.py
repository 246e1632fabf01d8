"""``sync``: make every preset's parameters hold what they should, AMI and Config.

The repair is the service's own convergence (:meth:`AmiService.sync`: write
the desired value, then re-read the record and go round again if a newer AMI,
pin or Config won meanwhile), so it is safe while events are flowing. A
parameter the service cannot use is reported ``failed`` on its row, never
overwritten, and the other presets carry on.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from typing import Any

from attrs import evolve, frozen

from amistate.core.state import AmiState
from amistate.errors import AmistateError, is_permanent
from amistate.usecases.converge import Converger
from amistate.wiring.compose import Runtime

from . import render
from .operate import RegionView, view


@frozen
class Change:
    """What sync did (or would do) to one preset's parameter in one region."""

    preset: str
    region: str
    parameter: str
    action: str  # written | would-write | unchanged | skipped | failed
    before: str | None = None
    after: str | None = None
    detail: str | None = None
    keys: tuple[str, ...] = ()  # what differed: "amiId", config keys, or "missing"

    def to_json(self) -> dict[str, Any]:
        return {
            "preset": self.preset,
            "region": self.region,
            "parameter": self.parameter,
            "action": self.action,
            "ssmAmiIdBefore": self.before,
            "ssmAmiIdAfter": self.after,
            "keys": list(self.keys),
            "detail": self.detail,
        }


def _planned(preset: str, name: str, r: RegionView, dry_run: bool) -> Change:
    if r.problem is not None:
        return Change(preset, r.region, name, "failed", detail=r.problem)
    if r.expected is None:
        return Change(preset, r.region, name, "skipped", r.actual, detail="no AMI yet")
    if r.drift:
        action = "would-write" if dry_run else "written"
        return Change(preset, r.region, name, action, r.actual, r.expected, keys=r.keys)
    return Change(preset, r.region, name, "unchanged", r.actual, r.actual)


def sync(converger: Converger, record: AmiState, dry_run: bool) -> list[Change]:
    """Converge one preset's parameters on ``record`` as just read (or say what that
    would change)."""
    name = converger.parameter_name(record.preset)
    changes = [_planned(record.preset, name, r, dry_run) for r in view(converger, record).regions]
    if dry_run or not any(c.action == "written" for c in changes):
        return changes
    try:
        converger.converge(record.preset, record)
    except AmistateError as exc:
        if not is_permanent(exc):
            raise
        return [
            evolve(c, action="failed", after=None, detail=str(exc)) if c.action == "written" else c
            for c in changes
        ]
    after = view(converger, converger.states.get(record.preset) or record)
    settled = {r.region: r.actual for r in after.regions}
    return [evolve(c, after=settled.get(c.region)) if c.action == "written" else c for c in changes]


def sync_text(changes: Iterable[Change]) -> str:
    rows = []
    for c in changes:
        if c.action in ("written", "would-write"):
            what = f"{c.before or '(none)'} -> {c.after}" if c.before != c.after else c.after
            config = [key for key in c.keys if key not in ("amiId", "missing")]
            what = f"{what}; config: {', '.join(config)}" if config else str(what)
        elif c.action == "unchanged":
            what = f"{c.after} (in sync)"
        else:
            what = c.detail or ""
        rows.append([c.preset, c.region, c.parameter, c.action, what])
    if not rows:
        return "no presets"
    return render.table(["PRESET", "REGION", "PARAMETER", "ACTION", "WHAT"], rows)


def run_sync(args: argparse.Namespace, rt: Runtime, table: str) -> int:
    """``amistate sync``: exit 1 when --dry-run finds drift or a repair failed."""
    changes: list[Change] = []
    for record in rt.service.records(args.presets):
        changes.extend(sync(rt.converger, record, dry_run=args.dry_run))
    failed = any(c.action == "failed" for c in changes)
    pending = _count(changes, "would-write")
    written = _count(changes, "written")
    if args.json:
        render.emit_json(
            {
                "table": table,
                "dryRun": args.dry_run,
                "changes": [c.to_json() for c in changes],
                "written": written,
                "drift": pending > 0,
                "failed": failed,
            }
        )
    else:
        print(sync_text(changes))
        if args.dry_run:
            print(f"\ndry run: {pending} parameter(s) would be written, nothing changed")
        else:
            print(f"\n{written} parameter(s) written")
        if failed:
            print(f"{_count(changes, 'failed')} parameter(s) failed: fix them by hand")
    return 1 if failed or pending else 0


def _count(changes: Sequence[Change], action: str) -> int:
    return sum(1 for c in changes if c.action == action)


__all__ = ["Change", "run_sync", "sync", "sync_text"]
