"""The reconcile Lambda: ``amistate.shims.reconcile.handler(event, context)``.

Invoked on a schedule (EventBridge Scheduler, or a rule's "Scheduled Event").
The event's content is ignored, but it must be a JSON object: anything else is
refused with a :class:`~amistate.errors.MalformedEvent`. One run of
:class:`amistate.usecases.reconcile.run.Reconciler` over every preset, then:

* one JSON log line per instruction (``action``: ``feed``, ``fall-back``,
  ``converge``, ``trim``, ``tag``, ``untag``, ``problem``; ``done`` says
  whether it was carried out) and one ``summary`` line, each with the
  Powertools keys (:func:`amistate.shims.logs.invocation_keys`);
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

from amistate.core.state import AmiState
from amistate.errors import MalformedEvent, TransientError
from amistate.shims import logs, runtime
from amistate.shims.metrics import Metrics
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

#: The clock AmiAgeDays is measured against (tests may replace it).
now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731

_SECONDS_PER_DAY = 86_400.0


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
        _log_instruction(instruction, report, keys)
    _count(metrics, report)
    _ages(metrics, rt, report)
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
        "problems": [{"preset": p.preset, "text": p.text} for p in report.plan.problems],
        "failed": dict(report.failed),
        "converged": report.converged,
    }


def describe(instruction: Instruction) -> dict[str, Any]:
    """The log fields of one plan instruction."""
    if isinstance(instruction, Feed):
        build = instruction.build
        return {
            "action": "feed",
            "preset": instruction.preset,
            "buildId": build.arn,
            "status": build.status,
            "created": build.created.isoformat(),
            "amis": {a.region: a.ami_id for a in build.amis},
        }
    if isinstance(instruction, FallBack):
        return {
            "action": "fall-back",
            "preset": instruction.preset,
            "vanished": instruction.vanished,
            "imageState": instruction.state,
            "amiId": instruction.to.ami_id,
            "buildId": instruction.to.build_id,
        }
    if isinstance(instruction, Converge):
        return {
            "action": "converge",
            "preset": instruction.preset,
            "regions": list(instruction.regions),
            "keys": list(instruction.keys),
        }
    if isinstance(instruction, Trim):
        return {"action": "trim", "preset": instruction.preset, "builds": len(instruction.keys)}
    if isinstance(instruction, Tag):
        ids, tags = list(instruction.ami_ids), instruction.tags
        return {"action": "tag", "region": instruction.region, "amis": ids, "tags": tags}
    if isinstance(instruction, Untag):
        ids = list(instruction.ami_ids)
        keys = list(instruction.keys)
        return {"action": "untag", "region": instruction.region, "amis": ids, "keys": keys}
    assert isinstance(instruction, Problem)
    return {"action": "problem", "preset": instruction.preset, "problem": instruction.text}


def _log_instruction(instruction: Instruction, report: Report, keys: Mapping[str, Any]) -> None:
    fields = describe(instruction)
    problem = isinstance(instruction, Problem)
    failed = report.failed.get(owner(instruction))
    done = not problem and _done(instruction, report)
    level = logging.ERROR if failed and not done else logging.INFO
    if problem:
        level = logging.WARNING
    extra = {} if problem else {"done": done, "failed": None if done else failed}
    logs.decision(level, **fields, **extra, **keys)


def _done(instruction: Instruction, report: Report) -> bool:
    """Carried out: by this run, or (a build) by its feed for another preset of the pipeline."""
    if isinstance(instruction, Feed):
        arn = instruction.build.arn
        return any(isinstance(i, Feed) and i.build.arn == arn for i in report.done)
    return instruction in report.done


def _count(metrics: Metrics, report: Report) -> None:
    metrics.add("ReconcileRepairs", sum(isinstance(i, Feed) for i in report.done))
    metrics.add("ReconcileFallbacks", sum(isinstance(i, FallBack) for i in report.done))
    metrics.add("ReconcileProblems", len(report.plan.problems))
    writes = sum(len(i.regions) for i in report.done if isinstance(i, Converge))
    metrics.add("ParameterWrites", writes)
    metrics.add("Errors", len(report.failed))


def _ages(metrics: Metrics, rt: runtime.Runtime, report: Report) -> None:
    """``AmiAgeDays`` per preset, from the record as the run left it."""
    changed = {i.preset for i in report.done if isinstance(i, Feed | FallBack)}
    at = now()
    for preset, record in sorted(report.records.items()):
        if preset in changed:
            try:
                record = rt.service.record(preset) or record
            except Exception as exc:  # a metric must not fail a run that worked
                logs.decision(
                    logging.WARNING, action="age-from-read", preset=preset, error=str(exc)
                )
        finished = ami_finished(record)
        if finished is not None:
            age = max(0.0, (at - finished).total_seconds() / _SECONDS_PER_DAY)
            metrics.set("AmiAgeDays", round(age, 3), by=preset)


def ami_finished(record: AmiState) -> datetime | None:
    """When the build of the AMI the home parameter should hold finished.

    Pinned: the pinned build's entry in the history (None once trimmed away);
    otherwise the AMI register's ``ami_updated_at``. None without an AMI.
    """
    pin = record.pin
    if pin is not None:
        for entry in record.history.values():
            if entry.build_id == pin.build_id:
                return entry.updated_at
        return None
    return None if record.ami_id is None else record.ami_updated_at


__all__ = ["ReconcileFailed", "ami_finished", "describe", "handler", "summarize"]
