"""``history``: a preset's terminal builds, newest first, failures included."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from amistate.core.state import AmiState, BuildRecord
from amistate.wiring.compose import Runtime

from . import render


def in_use_build(record: AmiState) -> str | None:
    """The build whose AMI the parameters should hold: the pin's, else the AMI register's."""
    if record.pin is not None:
        return record.pin.build_id
    return record.ami_build_id


def build_json(record: AmiState, build: BuildRecord) -> dict[str, Any]:
    holder = in_use_build(record)
    in_use = build.good and (
        build.build_id == holder if holder is not None else build.ami_id == record.ami_id
    )
    return {
        "buildId": build.build_id,
        "status": build.status,
        "amiId": build.ami_id,
        "updatedAt": render.iso(build.updated_at),
        **build.amis.document(),
        "reason": build.reason,
        "inUse": in_use,
        "pinned": record.pin is not None and record.pin.build_id == build.build_id,
        "candidate": record.waiting is not None and record.waiting.key == build.key,
        "rejected": _rejected(build),
    }


def _rejected(build: BuildRecord) -> dict[str, Any] | None:
    if build.rejection is None:
        return None
    return {"at": render.iso(build.rejection.at), "reason": build.rejection.reason}


def history_text(record: AmiState, builds: Sequence[BuildRecord]) -> str:
    if not builds:
        return f"no builds recorded for preset {record.preset} yet"
    rows = []
    for build in builds:
        shown = build_json(record, build)
        flags = (("in use", shown["inUse"]), ("pinned", shown["pinned"]))
        marks = [m for m, on in (*flags, ("candidate", shown["candidate"])) if on]
        if build.rejection is not None:
            why = f": {build.rejection.reason}" if build.rejection.reason else ""
            marks.append(f"REJECTED{why}")
        note = "; ".join([*marks, *([build.reason] if build.reason else [])])
        rows.append(
            [
                render.build(build.build_id),
                build.status,
                render.dash(build.ami_id),
                render.when(build.updated_at),
                note,
            ]
        )
    return render.table(["BUILD", "STATUS", "AMI ID", "UPDATED AT", ""], rows)


def run_history(args: argparse.Namespace, rt: Runtime) -> int:
    """``amistate history PRESET``: exit 0 (1 for an unknown preset, as every command)."""
    record = rt.service.require(args.preset)
    builds = record.builds(args.limit)
    if args.json:
        render.emit_json(
            {
                "preset": record.preset,
                "accountsBehind": dict(record.behind),
                "builds": [build_json(record, b) for b in builds],
            }
        )
    else:
        print(history_text(record, builds))
    return 0


__all__ = ["build_json", "history_text", "in_use_build", "run_history"]
