"""The state Lambda: ``amistate.shims.lambda_handler.handler(event, context)``.

Accepts an EventBridge "EC2 Image Builder Image State Change" event, an SNS
event of Image Builder notifications, or an SQS event whose bodies are either.
Each record is parsed, handed to :class:`amistate.usecases.service.AmiService`, and
logged as one JSON line. Then:

* SQS: returns ``{"batchItemFailures": [{"itemIdentifier": <messageId>}, ...]}``
  naming exactly the records that failed (malformed or transient). A batch is
  handled newest build version first (the same build's records keep their
  order): when it holds several builds of one recipe (a rebuild storm), the
  newest is applied and the older ones are stale, so the preset's parameter is
  written once, not once per build. The end state is the same in any order
  (amistate.core.rules);
* a record Image Builder contradicts or does not know is ``rejected``
  (:mod:`amistate.usecases.verify`): logged at WARNING with the reason in ``note``,
  counted in ``RejectedNotifications``, and *not* a failure: a retry would
  meet the same answer, so it is consumed, never redelivered or dead-lettered;
* EventBridge / SNS: returns None when every record was handled, ignored or rejected;
  otherwise, after every record had its turn, raises the first failure (a
  :class:`~amistate.errors.MalformedEvent` for a malformed record, the AWS
  error for a transient one) so Lambda retries or dead-letters the event.
  Re-handling the records that succeeded is idempotent.
"""

from __future__ import annotations

import logging
from typing import Any

from amistate.core.events import BuildEvent
from amistate.core.parsing import Item, parse_invocation
from amistate.errors import MalformedEvent, is_permanent
from amistate.shims import logs, runtime
from amistate.shims.metrics import Metrics
from amistate.usecases.service import Outcome


def handler(event: Any, context: Any) -> dict[str, list[dict[str, str]]] | None:
    """The Lambda entry point (see the module docstring for the contract)."""
    keys = logs.invocation_keys(context)
    metrics = Metrics()
    try:
        return _invoke(event, context, keys, metrics)
    finally:
        metrics.flush()


def _invoke(
    event: Any, context: Any, keys: dict[str, Any], metrics: Metrics
) -> dict[str, list[dict[str, str]]] | None:
    rt = runtime.get(context)
    with rt.deadline.running(getattr(context, "get_remaining_time_in_millis", None)):
        return _records(rt, event, keys, metrics)


def _records(
    rt: runtime.Runtime, event: Any, keys: dict[str, Any], metrics: Metrics
) -> dict[str, list[dict[str, str]]] | None:
    request_id = keys["function_request_id"]
    try:
        invocation = parse_invocation(event)
    except MalformedEvent as exc:
        metrics.add("Errors")
        logs.decision(
            logging.ERROR,
            decision="malformed",
            path=exc.path,
            problem=exc.problem,
            requestId=request_id,
            awsCalls=0,
            **keys,
        )
        raise

    failed: set[int] = set()
    first_error: BaseException | None = None
    items = invocation.items
    if invocation.kind == "sqs":
        items = tuple(sorted(items, key=_newest_first))
    for item in items:
        error = _handle(rt, item, invocation.kind, {"requestId": request_id, **keys}, metrics)
        if error is None:
            continue
        first_error = first_error or error
        if item.message_id is not None:
            failed.add(id(item))
        elif invocation.kind == "sqs":
            # An SQS record without a usable messageId cannot be named in a
            # partial batch response: fail the whole batch rather than lose it.
            raise error

    if invocation.kind == "sqs":  # named in the batch's order
        named = [i.message_id for i in invocation.items if id(i) in failed and i.message_id]
        return {"batchItemFailures": [{"itemIdentifier": m} for m in named]}
    if first_error is not None:
        raise first_error
    return None


def _newest_first(item: Item) -> tuple[int, ...]:
    """Sort key: the highest build version first, malformed records last (in their order)."""
    if isinstance(item.result, MalformedEvent):
        return (1,)
    return (0, *(-part for part in item.result.build.version))


def _handle(
    rt: runtime.Runtime, item: Item, kind: str, keys: dict[str, Any], metrics: Metrics
) -> BaseException | None:
    """Handle one record, log one line per preset; return the error instead of raising it."""
    where: dict[str, Any] = {"record": item.path, "messageId": item.message_id, **keys}
    if isinstance(item.result, MalformedEvent):
        metrics.add("Errors")
        exc = item.result
        logs.decision(
            logging.ERROR,
            decision="malformed",
            source=kind,
            path=exc.path,
            problem=exc.problem,
            awsCalls=0,
            **where,
        )
        return exc
    event = item.result
    before = rt.calls.value
    try:
        outcomes = rt.service.handle(event)
    except Exception as exc:
        metrics.add("Errors")
        permanent = is_permanent(exc)
        logs.decision(
            logging.ERROR,
            decision="error",
            source=kind,
            origin=event.origin,
            buildId=event.build.arn,
            status=event.status,
            eventTime=event.time.isoformat(),
            error=type(exc).__name__,
            message=str(exc),
            retryable=not permanent,
            awsCalls=rt.calls.value - before,
            **where,
        )
        return exc
    calls = rt.calls.value - before
    for outcome in outcomes:
        count_outcome(metrics, outcome)
        _log_outcome(outcome, event, kind, calls, where)
    return None


def _log_outcome(
    outcome: Outcome, event: BuildEvent, kind: str, calls: int, where: dict[str, Any]
) -> None:
    """One preset's decision line; a rejected event is a WARNING, its reason in ``note``,
    and so is one that left target accounts behind (``accountsBehind``, each with why)."""
    behind = {"accountsBehind": list(outcome.behind)} if outcome.behind else {}
    logs.decision(
        logging.WARNING if outcome.decision == "rejected" or behind else logging.INFO,
        decision=outcome.decision,
        source=kind,
        origin=event.origin,
        preset=outcome.preset,
        buildId=outcome.build_id,
        status=event.status,
        recordStatus=outcome.status,
        amiId=outcome.ami_id,
        parameterAmiId=outcome.parameter_ami_id,
        parameterWritten=outcome.parameter_written,
        note=outcome.note,
        eventTime=event.time.isoformat(),
        awsCalls=calls,
        **behind,
        **where,
    )


def count_outcome(metrics: Metrics, outcome: Outcome) -> None:
    """The metrics of one preset's outcome (see amistate.shims.metrics for the names)."""
    metrics.add("Decisions", by=outcome.decision)
    if outcome.decision == "rejected":
        metrics.add("RejectedNotifications")
    if outcome.status == "failed" and outcome.decision == "applied" and outcome.preset:
        metrics.add("BuildsFailed")
        metrics.add("BuildFailed", by=outcome.preset)
    if outcome.promoted:
        metrics.add("Promotions")
    if outcome.parameter_written:
        metrics.add("ParameterWrites")
        metrics.add("ConvergeRounds", outcome.rounds)


__all__ = ["handler"]
