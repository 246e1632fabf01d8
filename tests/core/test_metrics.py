"""EMF documents: the shape CloudWatch accepts, the documented names and dimensions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from amistate.shims.metrics import METRICS, NAMESPACE, Metrics

NOW = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)


def _emf_values(document: dict[str, object]) -> dict[str, object]:
    """Check one document against the EMF specification; return its metric values."""
    aws = document["_aws"]
    assert isinstance(aws, dict)
    assert aws["Timestamp"] == int(NOW.timestamp() * 1000)
    (directive,) = aws["CloudWatchMetrics"]
    assert directive["Namespace"] == NAMESPACE
    (dimensions,) = directive["Dimensions"]
    for name in dimensions:
        assert isinstance(document[name], str), f"dimension {name} has no value"
    values = {}
    for metric in directive["Metrics"]:
        unit, extra = METRICS[metric["Name"]]
        assert metric["Unit"] == unit
        assert dimensions == (["Service"] if extra is None else ["Service", extra])
        values[metric["Name"]] = document[metric["Name"]]
    return values


def test_counts_add_up_per_dimension_value() -> None:
    metrics = Metrics(clock=lambda: NOW)
    metrics.add("Decisions", by="applied")
    metrics.add("Decisions", by="applied")
    metrics.add("Decisions", by="stale")
    metrics.add("ParameterWrites", 2)
    metrics.set("AmiAgeDays", 3.5, by="linux-x64")
    lines: list[str] = []
    metrics.flush(lines.append)
    documents = [json.loads(line) for line in lines]
    found = {(d.get("Decision") or d.get("Preset") or "-"): _emf_values(d) for d in documents}
    assert found == {
        "applied": {"Decisions": 2},
        "stale": {"Decisions": 1},
        "-": {"ParameterWrites": 2},
        "linux-x64": {"AmiAgeDays": 3.5},
    }
    metrics.flush(lines.append)
    assert len(lines) == len(documents), "flush starts afresh"


def test_a_metric_without_its_dimension_is_refused() -> None:
    with pytest.raises(ValueError, match="Decision"):
        Metrics().add("Decisions")
    with pytest.raises(ValueError, match="ParameterWrites"):
        Metrics().add("ParameterWrites", by="x")
