"""What one bench run reports: Markdown sections, budgets with verdicts, figures as JSON.

The terminal gets the report (stdout) and one progress line per section
(stderr); the functions under test print their metric lines and log their
decisions as they would in Lambda, so :func:`quiet` sends those elsewhere while
a section runs. ``--json`` prints one object instead of the Markdown: the
figures of every section run and, per budget, its figure, the budget and the
verdict.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from attrs import define, field


@define
class Report:
    out: TextIO | None = None  # where sections are printed as they finish (None: nowhere)
    parts: list[str] = field(factory=list)
    budgets: list[dict[str, Any]] = field(factory=list)
    figures: dict[str, Any] = field(factory=dict)
    problems: list[str] = field(factory=list)
    #: Files beside docs/performance.md that --update-doc writes (name -> text).
    files: dict[str, str] = field(factory=dict)
    started: str = field(factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))

    def section(self, title: str, body: str) -> None:
        self.parts.append(f"### {title}\n\n{body}")
        if self.out is not None:
            print(f"\n### {title}\n\n{body}", file=self.out, flush=True)

    def budget(self, what: str, limit: str, measured: str, holds: bool, figure: Any = None) -> None:
        """One budget; ``figure`` is the measured number(s) for JSON (default: ``measured``)."""
        self.budgets.append(
            {
                "name": what,
                "figure": measured if figure is None else figure,
                "budget": limit,
                "measured": measured,
                "verdict": "pass" if holds else "fail",
            }
        )

    def budget_rows(self) -> list[tuple[str, str, str, str]]:
        return [
            (b["name"], b["budget"], b["measured"], "yes" if b["verdict"] == "pass" else "**no**")
            for b in self.budgets
        ]

    def as_json(self, machine: dict[str, str], seconds: float, smoke: bool) -> str:
        return json.dumps(
            {
                "date": self.started,
                "machine": machine,
                "seconds": round(seconds, 1),
                "smoke": smoke,
                "figures": self.figures,
                "budgets": self.budgets,
                "problems": self.problems,
            },
            indent=2,
            ensure_ascii=False,
        )


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The functions' metric lines (stdout) and log lines (the amistate logger) go nowhere."""
    logger = logging.getLogger("amistate")
    propagate, handlers = logger.propagate, logger.handlers[:]
    logger.propagate, logger.handlers = False, [logging.NullHandler()]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.propagate, logger.handlers = propagate, handlers


class Progress:
    """One line on stderr per section: which, how many, how long."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.started = time.perf_counter()

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.done += 1
        begun = time.perf_counter()
        print(f"bench: [{self.done}/{self.total}] {name} ...", file=self.stream, flush=True)
        yield
        took, whole = time.perf_counter() - begun, time.perf_counter() - self.started
        print(
            f"bench: [{self.done}/{self.total}] {name} done in {took:.0f} s ({whole:.0f} s so far)",
            file=self.stream,
            flush=True,
        )
