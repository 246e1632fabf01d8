"""CloudWatch metrics as embedded-metric-format (EMF) log lines: no client, no call.

A Lambda that prints an EMF document to stdout publishes its metrics through
CloudWatch Logs, at no extra latency and with no new dependency. The names,
units and dimensions below are the contract the CDK example's alarms and
dashboard use (docs/operations.md lists them):

* namespace ``amistate``; every metric has the dimension ``Service=amistate``;
* ``Decisions`` is also split by ``Decision`` (applied, applied-ami, stale,
  duplicate, ignored, rejected): six values, a bounded set;
* ``RejectedNotifications`` counts events Image Builder contradicted or did not
  know (:mod:`amistate.usecases.verify`): nothing of them was written;
* rollouts: ``Promotions`` (candidates that went live by an event or a
  reconcile run), ``CandidatesWaiting`` and ``RejectedBuilds`` (gauges a
  reconcile run sets across its presets), ``CandidateAgeHours`` (per waiting
  candidate: how long ago its build completed);
* ``AmiAgeDays``, ``CandidateAgeHours`` and ``BuildFailed`` are also split by
  ``Preset``. Presets are the ones the stack deployed (an event of an unmapped pipeline is ignored
  before any metric names it), so the dimension is bounded by the deployment.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

NAMESPACE = "amistate"
SERVICE = "amistate"
#: EMF allows at most 100 metrics per document.
MAX_METRICS_PER_DOCUMENT = 100

Unit = Literal["Count", "None", "Seconds", "Milliseconds"]

# name -> (unit, extra dimension or None)
METRICS: Mapping[str, tuple[Unit, str | None]] = {
    "Decisions": ("Count", "Decision"),
    "BuildsFailed": ("Count", None),
    "BuildFailed": ("Count", "Preset"),
    "ParameterWrites": ("Count", None),
    "ConvergeRounds": ("Count", None),
    "ReconcileRepairs": ("Count", None),
    "ReconcileFallbacks": ("Count", None),
    "ReconcileProblems": ("Count", None),
    "Errors": ("Count", None),
    "RejectedNotifications": ("Count", None),
    "AmiAgeDays": ("None", "Preset"),
    "Promotions": ("Count", None),
    "CandidatesWaiting": ("Count", None),
    "RejectedBuilds": ("Count", None),
    "CandidateAgeHours": ("None", "Preset"),
}


class Metrics:
    """Collects one invocation's metrics; :meth:`flush` prints them as EMF."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        # (dimension name, dimension value) -> metric name -> value
        self._values: dict[tuple[str | None, str | None], dict[str, float]] = defaultdict(dict)

    def add(self, name: str, value: float = 1, by: str | None = None) -> None:
        """Add ``value`` to metric ``name`` (``by``: its extra dimension's value)."""
        _, dimension = METRICS[name]
        if (dimension is None) != (by is None):
            raise ValueError(f"metric {name} takes dimension {dimension}, got {by!r}")
        with self._lock:
            bucket = self._values[(dimension, by)]
            bucket[name] = bucket.get(name, 0) + value

    def set(self, name: str, value: float, by: str | None = None) -> None:
        """Set a gauge (``AmiAgeDays``) to ``value``."""
        _, dimension = METRICS[name]
        if (dimension is None) != (by is None):
            raise ValueError(f"metric {name} takes dimension {dimension}, got {by!r}")
        with self._lock:
            self._values[(dimension, by)][name] = value

    def documents(self) -> list[dict[str, Any]]:
        """The EMF documents of everything collected (one per dimension value)."""
        timestamp = int(self._clock().timestamp() * 1000)
        out: list[dict[str, Any]] = []
        with self._lock:
            for (dimension, value), metrics in sorted(self._values.items(), key=str):
                names = sorted(metrics)
                for start in range(0, len(names), MAX_METRICS_PER_DOCUMENT):
                    chunk = names[start : start + MAX_METRICS_PER_DOCUMENT]
                    out.append(
                        _document(timestamp, dimension, value, {n: metrics[n] for n in chunk})
                    )
        return out

    def flush(self, write: Callable[[str], None] = print) -> None:
        """Print every document as one JSON line and start afresh."""
        for document in self.documents():
            write(json.dumps(document, separators=(",", ":")))
        with self._lock:
            self._values.clear()


def _document(
    timestamp: int, dimension: str | None, value: str | None, metrics: Mapping[str, float]
) -> dict[str, Any]:
    dimensions = ["Service"] if dimension is None else ["Service", dimension]
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [dimensions],
                    "Metrics": [{"Name": n, "Unit": METRICS[n][0]} for n in metrics],
                }
            ],
        },
        "Service": SERVICE,
    }
    if dimension is not None:
        document[dimension] = value
    document.update(metrics)
    return document


__all__ = ["METRICS", "NAMESPACE", "SERVICE", "Metrics"]
