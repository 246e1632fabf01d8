"""What ``amistate replay`` reads: saved events, in the shapes they are kept in.

A file (or ``-`` for standard input) holds JSON or JSON Lines. Each document is
one of:

* a Lambda event as the state Lambda receives it: an EventBridge event, an SNS
  event (``{"Records": [{"EventSource": "aws:sns", ...}]}``) or an SQS event
  (``{"Records": [{"eventSource": "aws:sqs", ...}]}``);
* an SQS message dump as ``aws sqs receive-message`` prints it
  (``{"Messages": [{"MessageId": ..., "Body": ..., "Attributes": {...}}]}``),
  e.g. drained from a dead-letter queue. A body may itself be a whole Lambda
  event (the DLQ of an asynchronous invocation) or a Lambda destination record
  (``{"requestPayload": ...}``); those are replayed as the event they carry;
  any other body (an SNS envelope, a raw Image Builder notification) becomes
  one SQS record, as the Lambda would receive it from the queue;
* a Lambda destination record (``{"requestPayload": <event>, ...}``);
* a JSON array of any of the above.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from attrs import frozen

from amistate.core.parsing.sqs import record_of_message
from amistate.errors import InputError, UsageError


@frozen
class Replayable:
    """One Lambda event to replay, and where it came from (``file:line`` or ``file#n``)."""

    source: str
    event: Any


def read_sources(paths: list[str]) -> list[Replayable]:
    """Every event in ``paths`` (``-`` is standard input), in order."""
    events: list[Replayable] = []
    for path in paths:
        label = "<stdin>" if path == "-" else path
        text = sys.stdin.read() if path == "-" else _read(path)
        for where, document in _documents(text, label):
            events.extend(_events(where, document))
    return events


def _read(path: str) -> str:
    """A FILE argument's text; one that cannot be read is a usage error (exit 2)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"FILE {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"FILE {path}: cannot read ({exc})") from None


def _documents(text: str, label: str) -> Iterator[tuple[str, Any]]:
    if not text.strip():
        raise InputError(f"{label}: empty (expected JSON or JSON Lines)")
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None
    else:
        if isinstance(whole, list):
            yield from ((f"{label}[{i}]", item) for i, item in enumerate(whole))
        else:
            yield label, whole
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"{label}:{number}", json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{label}:{number}: not valid JSON ({exc.msg}); "
                "expected one JSON document, or one per line (JSON Lines)"
            ) from None


def _events(where: str, document: Any) -> Iterator[Replayable]:
    if isinstance(document, Mapping) and isinstance(document.get("Messages"), list):
        for index, message in enumerate(document["Messages"]):
            yield _from_message(f"{where} Messages[{index}]", message)
    elif isinstance(document, Mapping) and "requestPayload" in document:
        yield Replayable(f"{where} requestPayload", document["requestPayload"])
    else:
        yield Replayable(where, document)


def _from_message(where: str, message: Any) -> Replayable:
    """An SQS message as ``receive-message`` prints it -> the Lambda event to replay."""
    if not isinstance(message, Mapping):
        # Let the parser name the problem, as the Lambda would.
        return Replayable(where, {"Records": [message]})
    body = message.get("Body")
    try:
        inner = json.loads(body) if isinstance(body, str) else None
    except ValueError:
        inner = None
    if isinstance(inner, Mapping):
        if "requestPayload" in inner:
            return Replayable(f"{where} requestPayload", inner["requestPayload"])
        if "detail-type" in inner or "Records" in inner:
            return Replayable(where, inner)
    return Replayable(where, {"Records": [record_of_message(message)]})


__all__ = ["InputError", "Replayable", "read_sources"]
