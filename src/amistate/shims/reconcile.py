"""The reconcile Lambda: ``amistate.shims.reconcile.handler(event, context)``.

Invoked on a schedule (EventBridge Scheduler, or a rule's "Scheduled Event").
The event's content is ignored, but it must be a JSON object: anything else is
refused with a :class:`~amistate.errors.MalformedEvent`. One run of
:class:`amistate.usecases.reconcile.run.Reconciler` over every preset, then:

* one JSON log line per instruction, its rendering
  (:func:`amistate.usecases.reconcile.vocabulary.render`: ``action`` ``feed``,
  ``fall-back``, ``converge``, ``trim``, ``tag``, ``untag``, ``problem`` or
  ``unreachable`` (a target account it could not read), and
  its fields, the same as ``amistate reconcile --json``'s; a change adds
  ``done`` and ``failed``) and one ``summary`` line, each with the Powertools
  keys (:func:`amistate.shims.logs.invocation_keys`);
* EMF metrics (:mod:`amistate.shims.metrics`): ``ReconcileRepairs`` (builds fed),
  ``ReconcileFallbacks``, ``ReconcileProblems``, ``ParameterWrites`` (one per
  region converged), ``Errors`` (presets that could not be reconciled) and,
  per preset, ``AmiAgeDays``: days since the build of the AMI its home
  parameter should hold finished;
* returns the summary (a JSON-able dict). It raises, after logging and
  printing the metrics, only when a preset could not be reconciled
  (:class:`ReconcileFailed`), so Lambda's retries and the Errors alarms see it.
  Problems (a pinned AMI that vanished, a build without an AMI in a region)
  need an operator, not a retry: they are reported, not raised.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from amistate.core.builds import ami_age_days
from amistate.errors import MalformedEvent, TransientError
from amistate.shims import logs, runtime
from amistate.shims.metrics import Metrics
from amistate.usecases.reconcile.plan import (
    Converge,
    Instruction,
    Problem,
    Promote,
    Unreachable,
    Withdraw,
)
from amistate.usecases.reconcile.run import Report
from amistate.usecases.reconcile.vocabulary import problem_fields, render

#: The clock AmiAgeDays is measured against (tests may replace it).
now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


class ReconcileFailed(TransientError):
    """At least one preset could not be reconciled (the next run retries it)."""


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (see the module docstring for the contract)."""
    keys = logs.invocation_keys(context)
    metrics = Metrics()
    try:
        return _invoke(event, context, keys, metrics)
    finally:
        metrics.flush()


def _invoke(event: Any, context: Any, keys: dict[str, Any], metrics: Metrics) -> dict[str, Any]:
    started = time.monotonic()
    if not isinstance(event, dict):
        metrics.add("Errors")
        problem = f"a scheduled invocation's event is a JSON object, got {type(event).__name__}"
        logs.decision(logging.ERROR, action="malformed", problem=problem, **keys)
        raise MalformedEvent("", problem)
    rt = runtime.get(context)
    before = rt.calls.value
    try:
        with rt.deadline.running(getattr(context, "get_remaining_time_in_millis", None)):
            report = rt.reconciler.run()
    except Exception as exc:
        metrics.add("Errors")
        logs.decision(
            logging.ERROR,
            action="error",
            error=type(exc).__name__,
            message=str(exc),
            awsCalls=rt.calls.value - before,
            **keys,
        )
        raise
    for instruction in report.plan.instructions:
        log_instruction(instruction, report, keys)
    _count(metrics, report)
    _ages(metrics, report)
    summary = summarize(report)
    summary["awsCalls"] = rt.calls.value - before
    summary["durationMs"] = round((time.monotonic() - started) * 1000)
    level = logging.ERROR if report.failed else logging.INFO
    logs.decision(level, action="summary", **summary, **keys)
    if report.failed:
        names = ", ".join(sorted(report.failed))
        raise ReconcileFailed(f"could not reconcile {names}: see the summary line")
    return summary


def summarize(report: Report) -> dict[str, Any]:
    """The JSON-able summary of a :class:`~amistate.usecases.reconcile.run.Report`."""
    return {
        "presets": report.presets,
        "counts": report.counts(),
        "problems": [problem_fields(p) for p in report.plan.attention],
        "failed": dict(report.failed),
        "converged": report.converged,
    }


def log_instruction(instruction: Instruction, report: Report, keys: Mapping[str, Any]) -> None:
    """One instruction's log line: its rendering, what became of it, the invocation's keys."""
    outcome = report.outcome(instruction)
    if isinstance(instruction, Problem | Unreachable):
        level = logging.WARNING
    else:
        level = logging.ERROR if outcome["failed"] and not outcome["done"] else logging.INFO
    logs.decision(level, **render(instruction).fields, **outcome, **keys)


def _count(metrics: Metrics, report: Report) -> None:
    counts = report.counts()
    metrics.add("ReconcileRepairs", counts["builds"])
    metrics.add("ReconcileFallbacks", counts["fallbacks"])
    metrics.add("Promotions", counts["promoted"])
    metrics.add("ReconcileProblems", len(report.plan.attention))
    writes = sum(len(i.regions) for i in report.done if isinstance(i, Converge))
    metrics.add("ParameterWrites", writes)
    metrics.add("Errors", len(report.failed))


def _ages(metrics: Metrics, report: Report) -> None:
    """``AmiAgeDays`` per preset, from the record as the run left it (its writes, its confirm)."""
    at = now()
    for preset, record in sorted(report.records.items()):
        age = ami_age_days(report.after.get(preset, record), at)
        if age is not None:
            metrics.set("AmiAgeDays", round(age, 3), by=preset)
    _rollouts(metrics, report, at)


def _rollouts(metrics: Metrics, report: Report, at: datetime) -> None:
    """``CandidatesWaiting``, ``CandidateAgeHours`` per waiting candidate and
    ``RejectedBuilds``, from the records as the run read them (a candidate the
    run promoted or withdrew no longer waits)."""
    promoted = {i.preset for i in report.done if isinstance(i, Promote)}
    withdrawn = {i.preset for i in report.done if isinstance(i, Withdraw)}
    waiting = 0
    rejected = len(withdrawn)
    for preset, record in sorted(report.records.items()):
        rejected += sum(1 for b in record.history.values() if b.rejection is not None)
        candidate = record.waiting
        if candidate is None or preset in promoted | withdrawn:
            continue
        waiting += 1
        hours = max(0.0, (at - candidate.completed_at).total_seconds() / 3600)
        metrics.set("CandidateAgeHours", round(hours, 3), by=preset)
    metrics.set("CandidatesWaiting", waiting)
    metrics.set("RejectedBuilds", rejected)


__all__ = ["ReconcileFailed", "handler", "log_instruction", "summarize"]
