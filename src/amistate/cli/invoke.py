"""Invoke the real Lambda handler in-process and collect its decision lines.

The state Lambda logs one JSON line per record it handles (see
:mod:`amistate.shims.logs`). :class:`Invoker` calls
:func:`amistate.shims.lambda_handler.handler` exactly as Lambda would, with a
fresh request ID per invocation, and hands back the lines that invocation
logged, so ``replay`` and ``demo`` report what the Lambda itself decided.
Invocations may run in parallel threads.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from typing import Any, TextIO

from attrs import define, field, frozen

from amistate.shims import lambda_handler, logs


@define
class LambdaContext:
    """The parts of a Lambda context object the handler reads."""

    invoked_function_arn: str | None = None
    aws_request_id: str = field(factory=lambda: str(uuid.uuid4()))
    function_name: str = "amistate-cli"
    log_stream_name: str = "amistate-cli"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


@frozen
class Invocation:
    """One handler call: the decision lines it logged, what it returned or raised."""

    lines: tuple[dict[str, Any], ...]
    result: Any = None
    error: BaseException | None = None


class _Collector(logging.Handler):
    def __init__(self, echo: bool) -> None:
        super().__init__(logging.DEBUG)
        self._lines: dict[str, list[dict[str, Any]]] = {}
        self._guard = threading.Lock()
        self._echo = echo

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if self._echo:
            print(message, file=sys.stderr)
        try:
            line = json.loads(message)
        except ValueError:
            return
        request = line.get("requestId") if isinstance(line, dict) else None
        if isinstance(request, str):
            with self._guard:
                self._lines.setdefault(request, []).append(line)

    def take(self, request_id: str) -> tuple[dict[str, Any], ...]:
        with self._guard:
            return tuple(self._lines.pop(request_id, []))


class _HandlerStdout(io.TextIOBase):
    """Standard output while capturing: what the handler prints (its EMF metrics
    documents, meant for CloudWatch) goes to standard error with ``echo``, else
    nowhere, so the command's own output stays one document. Per thread, so
    concurrent invocations need no global swap of ``sys.stdout``."""

    def __init__(self, real: TextIO, echo: bool) -> None:
        super().__init__()
        self.real = real
        self.echo = echo
        self.inside = threading.local()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not getattr(self.inside, "handler", False):
            return self.real.write(text)
        if self.echo:
            sys.stderr.write(text)
        return len(text)

    def flush(self) -> None:
        self.real.flush()


class Invoker:
    """Calls the handler and returns each invocation's lines (use :func:`capturing`)."""

    def __init__(
        self, collector: _Collector, function_arn: str | None, stdout: _HandlerStdout
    ) -> None:
        self._collector = collector
        self._function_arn = function_arn
        self._stdout = stdout

    def invoke(self, event: Any) -> Invocation:
        context = LambdaContext(invoked_function_arn=self._function_arn)
        self._stdout.inside.handler = True
        try:
            result = lambda_handler.handler(event, context)
        except Exception as exc:
            return Invocation(self._collector.take(context.aws_request_id), error=exc)
        finally:
            self._stdout.inside.handler = False
        return Invocation(self._collector.take(context.aws_request_id), result=result)


@contextmanager
def capturing(function_arn: str | None = None, echo: bool = False) -> Iterator[Invoker]:
    """Collect the ``amistate`` logger's decision lines while the block runs.

    ``echo`` also prints every line to standard error (``--debug``), and what the
    handler prints (EMF metrics) too; without it that is dropped.
    """
    logger = logs.logger
    collector = _Collector(echo)
    level, propagate = logger.level, logger.propagate
    logger.addHandler(collector)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    stdout = _HandlerStdout(sys.stdout, echo)
    try:
        with redirect_stdout(stdout):
            yield Invoker(collector, function_arn, stdout)
    finally:
        logger.removeHandler(collector)
        logger.setLevel(level)
        logger.propagate = propagate


__all__ = ["Invocation", "Invoker", "LambdaContext", "capturing"]
