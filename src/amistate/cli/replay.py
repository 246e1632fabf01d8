"""``replay``: one decision line per replayed record, from the Lambda's own decision lines."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from typing import Any

from . import render
from .invoke import Invocation, capturing
from .target import Target, open_runtime

FAILED_DECISIONS = frozenset({"malformed", "error"})


def describe_invocation(source: str, invocation: Invocation) -> list[dict[str, Any]]:
    """One result per record the handler logged (or one for an invocation that logged none)."""
    results: list[dict[str, Any]] = []
    for line in invocation.lines:
        decision = str(line.get("decision"))
        record = line.get("record")
        several = len(invocation.lines) > 1
        where = f"{source} {record}" if several and record not in (None, "$") else source
        problem = line.get("problem") or line.get("message")
        results.append(
            {
                "source": where,
                "messageId": line.get("messageId"),
                "decision": decision,
                "preset": line.get("preset"),
                "buildId": line.get("buildId"),
                "status": line.get("status"),
                "eventTime": line.get("eventTime"),
                "amiId": line.get("amiId"),
                "ssmAmiId": line.get("parameterAmiId"),
                "ssmWritten": bool(line.get("parameterWritten")),
                "note": line.get("note"),
                "error": _error(line, problem),
                "failed": decision in FAILED_DECISIONS,
            }
        )
    if not results:
        error = invocation.error
        results.append(
            {
                "source": source,
                "messageId": None,
                "decision": "error",
                "error": f"{type(error).__name__}: {error}" if error else "no record handled",
                "failed": True,
            }
        )
    return results


def _error(line: dict[str, Any], problem: Any) -> str | None:
    decision = line.get("decision")
    if decision == "malformed":
        path = line.get("path")
        return f"{path}: {problem}" if path else str(problem)
    if decision == "error":
        kind = line.get("error")
        retry = " (retryable)" if line.get("retryable") else ""
        return f"{kind}: {problem}{retry}"
    return None


def replay_text(results: Sequence[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        if r["failed"]:
            rows.append([r["source"], r["decision"], "-", "-", "-", "-", r.get("error") or ""])
            continue
        ssm = render.dash(r.get("ssmAmiId"))
        if r.get("ssmWritten"):
            ssm += " (written)"
        rows.append(
            [
                r["source"],
                r["decision"],
                render.dash(r.get("preset")),
                render.build(r.get("buildId")),
                render.dash(r.get("status")),
                render.dash(r.get("amiId")),
                ssm if r.get("preset") else render.dash(r.get("note")),
            ]
        )
    headers = ["EVENT", "DECISION", "PRESET", "BUILD", "STATUS", "RECORD amiId", "SSM amiId"]
    return render.table(headers, rows)


def run_replay(args: argparse.Namespace, target: Target, events: Iterable[Any]) -> int:
    """``amistate replay``: exit 1 when any event failed."""
    open_runtime(target)
    results = []
    with capturing(echo=args.debug) as invoker:
        for item in events:
            results.extend(describe_invocation(item.source, invoker.invoke(item.event)))
    failures = sum(1 for r in results if r["failed"])
    if args.json:
        render.emit_json({"events": results, "failures": failures})
    else:
        print(replay_text(results))
        print(f"\n{len(results)} event(s), {failures} failed")
    return 1 if failures else 0


__all__ = ["describe_invocation", "replay_text", "run_replay"]
