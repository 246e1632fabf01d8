"""``reconcile``: one reconcile run (:meth:`amistate.usecases.reconcile.run.Reconciler.run`).

Builds lost in delivery are fed through the service, vanished AMIs fall back to
the newest good build that still exists, parameters converge on their desired
value, old history is trimmed and the in-use tags follow the AMIs the presets
may need. ``--dry-run`` prints the same plan and writes nothing.
"""

from __future__ import annotations

import argparse
from typing import Any

from amistate.usecases.reconcile.run import Report
from amistate.usecases.reconcile.vocabulary import problem_fields, render
from amistate.wiring.compose import Runtime

from . import render as text


def report_json(report: Report) -> dict[str, Any]:
    """The run as JSON: each instruction its rendering (the reconcile Lambda logs the same
    fields), a change after a real run also ``done`` and ``failed``."""
    return {
        "dryRun": report.dry_run,
        "presets": report.presets,
        "counts": report.counts(),
        "instructions": [
            {**render(i).fields, **report.outcome(i)} for i in report.plan.instructions
        ],
        "problems": [problem_fields(p) for p in report.plan.attention],
        "failed": dict(report.failed),
        "converged": report.converged,
    }


def report_text(report: Report) -> str:
    renderings = [render(i) for i in report.plan.instructions]
    rows = [[r.action, r.subject, r.detail] for r in renderings]
    rows += [["FAILED", owner, why] for owner, why in sorted(report.failed.items())]
    lines = [text.table(["ACTION", "PRESET/REGION", "WHAT"], rows), ""] if rows else []
    lines.append(summary(report))
    return "\n".join(lines)


def summary(report: Report) -> str:
    counts = report.counts()
    done = ", ".join(f"{n} {what}" for what, n in counts.items() if n) or "no change"
    problems = len(report.plan.attention)
    tail = f"; {problems} problem(s), {len(report.failed)} failure(s)"
    if report.dry_run:
        return f"dry run over {report.presets} preset(s): would do {done}{tail}; nothing written"
    return f"reconciled {report.presets} preset(s): {done}{tail}"


def run_reconcile(args: argparse.Namespace, rt: Runtime) -> int:
    """``amistate reconcile``: exit 0 only when nothing is left to change."""
    report = rt.reconciler.run(args.presets or None, dry_run=args.dry_run)
    if args.json:
        text.emit_json(report_json(report))
    else:
        print(report_text(report))
    return 0 if report.converged else 1


__all__ = ["report_json", "report_text", "run_reconcile"]
