"""Text output: aligned tables and short forms of ARNs and times."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from amistate.core.arns import short_build
from amistate.usecases.reconcile import vocabulary


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> str:
    """Left-aligned columns separated by two spaces; trailing blanks trimmed."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in (headers, *rows):
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append((indent + "  ".join(cells)).rstrip())
    return "\n".join(lines)


def build(arn: str | None) -> str:
    """``arn:...:image/spot-runner-linux-x64/1.0.0/3`` -> ``spot-runner-linux-x64/1.0.0/3``."""
    return short_build(arn) if arn else "-"


def version(arn: str | None) -> str:
    """The build version alone: ``1.0.0/3``."""
    short = build(arn)
    return "/".join(short.split("/")[-2:]) if short.count("/") >= 2 else short


def when(value: datetime | None) -> str:
    """``2024-01-18 17:50:56Z`` (UTC), or ``-``."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with a ``Z``, for JSON output."""
    return None if value is None else vocabulary.iso(value)


def dash(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


def emit_json(value: Any, out: TextIO | None = None) -> None:
    """One JSON document on standard output."""
    stream = out or sys.stdout
    stream.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


__all__ = ["build", "dash", "emit_json", "iso", "table", "version", "when"]
