"""``reconcile``: one reconcile run (:meth:`amistate.usecases.reconcile.run.Reconciler.run`).

Builds lost in delivery are fed through the service, vanished AMIs fall back to
the newest good build that still exists, parameters converge on their desired
value, old history is trimmed and the in-use tags follow the AMIs the presets
may need. ``--dry-run`` prints the same plan and writes nothing.
"""

from __future__ import annotations

import argparse
from typing import Any

from amistate.usecases.reconcile.plan import (
    Converge,
    FallBack,
    Feed,
    Instruction,
    Problem,
    Tag,
    Trim,
    Untag,
)
from amistate.usecases.reconcile.run import Report, owner
from amistate.wiring.compose import Runtime

from . import render


def instruction_json(instruction: Instruction) -> dict[str, Any]:
    """One instruction as JSON: ``{"kind": <class name>, ...its fields}``."""
    kind = {"kind": type(instruction).__name__}
    if isinstance(instruction, Feed):
        build = instruction.build
        return kind | {
            "preset": instruction.preset,
            "pipelineArn": instruction.pipeline_arn,
            "buildId": build.arn,
            "status": build.status,
            "created": render.iso(build.created),
            "amis": {ami.region: ami.ami_id for ami in build.amis},
        }
    if isinstance(instruction, FallBack):
        return kind | {
            "preset": instruction.preset,
            "vanished": instruction.vanished,
            "state": instruction.state,
            "buildId": instruction.to.build_id,
            "amiId": instruction.to.ami_id,
            "amis": dict(instruction.to.amis),
        }
    if isinstance(instruction, Converge):
        return kind | {
            "preset": instruction.preset,
            "regions": list(instruction.regions),
            "keys": list(instruction.keys),
        }
    if isinstance(instruction, Trim):
        return kind | {"preset": instruction.preset, "builds": len(instruction.keys)}
    if isinstance(instruction, Tag):
        return kind | {
            "region": instruction.region,
            "amiIds": list(instruction.ami_ids),
            "tags": instruction.tags,
        }
    if isinstance(instruction, Untag):
        return kind | {
            "region": instruction.region,
            "amiIds": list(instruction.ami_ids),
            "keys": list(instruction.keys),
        }
    return kind | {"preset": instruction.preset, "problem": instruction.text}


def instruction_line(instruction: Instruction) -> list[str]:
    """One instruction as a text row: what, whose, details."""
    if isinstance(instruction, Feed):
        build = instruction.build
        return ["feed", instruction.preset, f"{render.build(build.arn)} {build.status}"]
    if isinstance(instruction, FallBack):
        to = instruction.to
        return [
            "fall back",
            instruction.preset,
            f"{instruction.vanished} is {instruction.state} -> "
            f"{render.build(to.build_id)} {to.ami_id}",
        ]
    if isinstance(instruction, Converge):
        keys = ", ".join(instruction.keys)
        return ["converge", instruction.preset, f"{', '.join(instruction.regions)}: {keys}"]
    if isinstance(instruction, Trim):
        return ["trim", instruction.preset, f"{len(instruction.keys)} old build(s) of the history"]
    if isinstance(instruction, Tag):
        amis = ", ".join(instruction.ami_ids)
        tags = " ".join(f"{key}={value}" for key, value in instruction.tags.items())
        return ["tag", instruction.region, f"{amis} {tags}"]
    if isinstance(instruction, Untag):
        amis = ", ".join(instruction.ami_ids)
        return ["untag", instruction.region, f"{amis} {', '.join(instruction.keys)}"]
    assert isinstance(instruction, Problem)
    return ["PROBLEM", instruction.preset, instruction.text]


def report_json(report: Report) -> dict[str, Any]:
    return {
        "dryRun": report.dry_run,
        "presets": report.presets,
        "counts": report.counts(),
        "instructions": [_with_done(report, i) for i in report.plan.instructions],
        "problems": [{"preset": p.preset, "problem": p.text} for p in report.plan.problems],
        "failed": dict(report.failed),
        "converged": report.converged,
    }


def _with_done(report: Report, instruction: Instruction) -> dict[str, Any]:
    """The instruction, and (after a real run) whether its preset's or region's repair failed."""
    value = instruction_json(instruction)
    if not report.dry_run and not isinstance(instruction, Problem):
        value["failed"] = owner(instruction) in report.failed
    return value


def report_text(report: Report) -> str:
    rows = [instruction_line(i) for i in report.plan.instructions]
    rows += [["FAILED", owner, why] for owner, why in sorted(report.failed.items())]
    lines = [render.table(["ACTION", "PRESET/REGION", "WHAT"], rows), ""] if rows else []
    lines.append(summary(report))
    return "\n".join(lines)


def summary(report: Report) -> str:
    counts = report.counts()
    done = ", ".join(f"{n} {what}" for what, n in counts.items() if n) or "no change"
    problems = len(report.plan.problems)
    tail = f"; {problems} problem(s), {len(report.failed)} failure(s)"
    if report.dry_run:
        return f"dry run over {report.presets} preset(s): would do {done}{tail}; nothing written"
    return f"reconciled {report.presets} preset(s): {done}{tail}"


def run_reconcile(args: argparse.Namespace, rt: Runtime) -> int:
    """``amistate reconcile``: exit 0 only when nothing is left to change."""
    report = rt.reconciler.run(args.presets or None, dry_run=args.dry_run)
    if args.json:
        render.emit_json(report_json(report))
    else:
        print(report_text(report))
    return 0 if report.converged else 1


__all__ = ["instruction_json", "instruction_line", "report_json", "report_text", "run_reconcile"]
