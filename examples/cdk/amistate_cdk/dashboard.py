"""The CloudWatch dashboard of one deployment: AMI ages, builds, decisions, writes, errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from . import metrics
from .cloudwatch_metrics import ONE_HOUR, RUNBOOK, amistate_metric, preset_metric

if TYPE_CHECKING:
    from .construct import AmiStatePipeline


def dashboard(
    scope: Construct,
    owner: AmiStatePipeline,
    functions: Mapping[str, lambda_.IFunction],
    alarms: Sequence[cloudwatch.IAlarm],
) -> cloudwatch.Dashboard:
    """The dashboard, four rows: title; AMI age and failures now; over time; operations."""
    presets = list(owner.presets)
    ages: list[cloudwatch.IMetric] = [
        preset_metric(metrics.AMI_AGE_DAYS, p, statistic="Maximum", period=ONE_HOUR)
        for p in presets
    ]
    board = cloudwatch.Dashboard(scope, "Dashboard", default_interval=Duration.days(14))
    board.add_widgets(
        cloudwatch.TextWidget(
            markdown=(
                f"# amistate\nPresets: {', '.join(presets)}. Alarms and what to do: `{RUNBOOK}`."
            ),
            width=24,
            height=2,
        )
    )
    board.add_widgets(*_presets_now(presets, ages))
    board.add_widgets(*_over_time(owner, ages))
    board.add_widgets(*_writes_and_dead_letters(owner))
    board.add_widgets(*_rollouts(owner))
    board.add_widgets(*_functions_and_alarms(functions, alarms))
    return board


def _presets_now(
    presets: Sequence[str], ages: list[cloudwatch.IMetric]
) -> list[cloudwatch.IWidget]:
    failures: list[cloudwatch.IMetric] = [
        preset_metric(metrics.BUILD_FAILED, p, statistic="Sum", period=Duration.days(7))
        for p in presets
    ]
    return [
        cloudwatch.SingleValueWidget(
            title="AMI age now (days), per preset", metrics=ages, width=12, height=4
        ),
        cloudwatch.SingleValueWidget(
            title="Failed builds in the last 7 days, per preset (0: the last builds succeeded)",
            metrics=failures,
            width=12,
            height=4,
        ),
    ]


def _over_time(owner: AmiStatePipeline, ages: list[cloudwatch.IMetric]) -> list[cloudwatch.IWidget]:
    decisions: list[cloudwatch.IMetric] = [
        amistate_metric(metrics.DECISIONS, metrics.decision_dimensions(d), period=ONE_HOUR, label=d)
        for d in metrics.DECISION_VALUES
    ]
    return [
        cloudwatch.GraphWidget(
            title="AMI age (days), per preset",
            left=ages,
            left_annotations=[
                cloudwatch.HorizontalAnnotation(
                    value=owner.settings.ami_max_age_days, label="age alarm"
                )
            ],
            width=12,
        ),
        cloudwatch.GraphWidget(title="Decisions over time", left=decisions, stacked=True, width=12),
    ]


def _writes_and_dead_letters(owner: AmiStatePipeline) -> list[cloudwatch.IWidget]:
    service = metrics.service_dimensions()

    def hourly(name: str) -> cloudwatch.IMetric:
        return amistate_metric(name, service, period=ONE_HOUR)

    return [
        cloudwatch.GraphWidget(
            title="SSM writes and convergence rounds",
            left=[hourly(metrics.PARAMETER_WRITES), hourly(metrics.CONVERGE_ROUNDS)],
            width=8,
        ),
        cloudwatch.GraphWidget(
            title="Reconciler repairs, fallbacks; failed builds; errors; rejected events",
            left=[
                hourly(metrics.RECONCILE_REPAIRS),
                hourly(metrics.RECONCILE_FALLBACKS),
                hourly(metrics.BUILDS_FAILED),
                hourly(metrics.ERRORS),
                hourly(metrics.REJECTED_NOTIFICATIONS),
            ],
            width=8,
        ),
        cloudwatch.GraphWidget(
            title="Dead letters (messages visible)",
            left=[
                owner.delivery_dlq.metric_approximate_number_of_messages_visible(
                    statistic="Maximum", label="DeliveryDeadLetters"
                ),
                owner.failed_invocations.metric_approximate_number_of_messages_visible(
                    statistic="Maximum", label="FailedInvocations"
                ),
            ],
            width=8,
        ),
    ]


def _rollouts(owner: AmiStatePipeline) -> list[cloudwatch.IWidget]:
    """Candidates waiting (and for how long), promotions, rejected builds."""
    service = metrics.service_dimensions()
    rolled = [n for n, p in owner.presets.items() if p.spec.rollout_policy in ("manual", "soak")]
    ages: list[cloudwatch.IMetric] = [
        preset_metric(metrics.CANDIDATE_AGE_HOURS, p, statistic="Maximum", period=ONE_HOUR)
        for p in rolled
    ]
    return [
        cloudwatch.GraphWidget(
            title="Rollouts: candidate age (hours), per preset with a manual or soak rollout",
            left=ages,
            left_annotations=[
                cloudwatch.HorizontalAnnotation(
                    value=owner.settings.candidate_max_wait_hours, label="wait alarm"
                )
            ],
            width=12,
        ),
        cloudwatch.GraphWidget(
            title="Rollouts: candidates waiting, promotions, rejected builds",
            left=[
                amistate_metric(name, service, period=ONE_HOUR, statistic=statistic)
                for name, statistic in (
                    (metrics.CANDIDATES_WAITING, "Maximum"),
                    (metrics.PROMOTIONS, "Sum"),
                    (metrics.REJECTED_BUILDS, "Maximum"),
                )
            ],
            width=12,
        ),
    ]


def _functions_and_alarms(
    functions: Mapping[str, lambda_.IFunction], alarms: Sequence[cloudwatch.IAlarm]
) -> list[cloudwatch.IWidget]:
    return [
        cloudwatch.GraphWidget(
            title="Function invocations and errors",
            left=[
                f.metric_invocations(statistic="Sum", label=f"{name} invocations")
                for name, f in functions.items()
            ],
            right=[
                f.metric_errors(statistic="Sum", label=f"{name} errors")
                for name, f in functions.items()
            ],
            width=12,
        ),
        cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(alarms), width=12),
    ]


__all__ = ["dashboard"]
