"""The state Lambda: ``amistate.shims.lambda_handler.handler(event, context)``.

Accepts an EventBridge "EC2 Image Builder Image State Change" event, an SNS
event of Image Builder notifications, or an SQS event whose bodies are either.
Each record is parsed, handed to :class:`amistate.service.AmiService`, and
logged as one JSON line. Then:

* SQS: returns ``{"batchItemFailures": [{"itemIdentifier": <messageId>}, ...]}``
  naming exactly the records that failed (malformed or transient);
* EventBridge / SNS: returns None when every record was handled or ignored;
  otherwise, after every record had its turn, raises the first failure (a
  :class:`~amistate.errors.MalformedEvent` for a malformed record, the AWS
  error for a transient one) so Lambda retries or dead-letters the event.
  Re-handling the records that succeeded is idempotent.
"""

from __future__ import annotations

import logging
from typing import Any

from amistate.errors import MalformedEvent, is_permanent
from amistate.parsing import Item, parse_invocation
from amistate.shims import logs, runtime


def handler(event: Any, context: Any) -> dict[str, list[dict[str, str]]] | None:
    """The Lambda entry point (see the module docstring for the contract)."""
    rt = runtime.get(context)
    request_id = getattr(context, "aws_request_id", None)
    try:
        invocation = parse_invocation(event)
    except MalformedEvent as exc:
        logs.decision(
            logging.ERROR,
            decision="malformed",
            path=exc.path,
            problem=exc.problem,
            requestId=request_id,
            awsCalls=0,
        )
        raise

    failures: list[dict[str, str]] = []
    first_error: BaseException | None = None
    for item in invocation.items:
        error = _handle(rt, item, invocation.kind, request_id)
        if error is None:
            continue
        first_error = first_error or error
        if item.message_id is not None:
            failures.append({"itemIdentifier": item.message_id})
        elif invocation.kind == "sqs":
            # An SQS record without a usable messageId cannot be named in a
            # partial batch response: fail the whole batch rather than lose it.
            raise error

    if invocation.kind == "sqs":
        return {"batchItemFailures": failures}
    if first_error is not None:
        raise first_error
    return None


def _handle(
    rt: runtime.Runtime, item: Item, kind: str, request_id: str | None
) -> BaseException | None:
    """Handle one record and log its one line; return the error instead of raising it."""
    where: dict[str, Any] = {
        "record": item.path,
        "messageId": item.message_id,
        "requestId": request_id,
    }
    if isinstance(item.result, MalformedEvent):
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
        outcome = rt.service.handle(event)
    except Exception as exc:
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
    logs.decision(
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
        awsCalls=rt.calls.value - before,
        **where,
    )
    return None


__all__ = ["handler"]
