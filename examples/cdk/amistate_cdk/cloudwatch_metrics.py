"""amistate's metrics (:mod:`.metrics`) in CloudWatch terms, shared by alarms and dashboard."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch

from . import metrics

#: Where operators read what an alarm means.
RUNBOOK = "docs/operations.md#alarms"

FIVE_MINUTES = Duration.minutes(5)
ONE_HOUR = Duration.hours(1)


def amistate_metric(
    name: str,
    dimensions: Mapping[str, str],
    *,
    statistic: str = "Sum",
    period: Duration = FIVE_MINUTES,
    label: str | None = None,
) -> cloudwatch.Metric:
    """A metric of the :mod:`.metrics` contract."""
    return cloudwatch.Metric(
        namespace=metrics.NAMESPACE,
        metric_name=name,
        dimensions_map=dict(dimensions),
        statistic=statistic,
        period=period,
        label=label,
    )


def preset_metric(name: str, preset: str, *, statistic: str, period: Duration) -> cloudwatch.Metric:
    """A per-preset metric, labelled with the preset's name."""
    return amistate_metric(
        name, metrics.preset_dimensions(preset), statistic=statistic, period=period, label=preset
    )


__all__ = ["FIVE_MINUTES", "ONE_HOUR", "RUNBOOK", "amistate_metric", "preset_metric"]
