"""Alarms, their SNS topic and a CloudWatch dashboard for one :class:`AmiStatePipeline`.

Every alarm notifies one SNS topic (an e-mail subscription when the settings
or the ``alarmEmail`` context name an address). What each alarm means and
what to do: docs/operations.md, "Alarms". The amistate metrics are the
contract of :mod:`.metrics`; the rest are AWS's (Lambda, SQS, EventBridge).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Aws, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from . import metrics
from .cloudwatch_metrics import FIVE_MINUTES, ONE_HOUR, RUNBOOK, amistate_metric
from .dashboard import dashboard

if TYPE_CHECKING:
    from .construct import AmiStatePipeline

#: Image Builder's event when it disables a pipeline after consecutive failed
#: scheduled builds (EventBridge reference, "EC2 Image Builder events").
PIPELINE_DISABLED_DETAIL_TYPE = "EC2 Image Builder Image Pipeline Automatically Disabled"


class AmiStateMonitoring(Construct):
    """The alarms (``alarms``, by name), the topic they notify, and the dashboard."""

    def __init__(self, scope: Construct, construct_id: str, *, owner: AmiStatePipeline) -> None:
        super().__init__(scope, construct_id)
        settings = owner.settings
        self.topic = sns.Topic(self, "AlarmTopic", display_name="amistate alarms", enforce_ssl=True)
        if settings.alarm_email is not None:
            self.topic.add_subscription(subscriptions.EmailSubscription(settings.alarm_email))
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        functions: dict[str, lambda_.IFunction] = {
            "State": owner.state_function,
            "Reconcile": owner.reconcile_function,
            "Deploy": owner.deploy_function,
        }
        self._build_alarms(owner)
        self._candidate_alarms(owner)
        self._repair_alarms(owner)
        self._function_alarms(owner, functions)
        self._pipeline_disabled()
        self.dashboard = dashboard(self, owner, functions, list(self.alarms.values()))

    def _build_alarms(self, owner: AmiStatePipeline) -> None:
        """A failed build, and each preset's AMI age."""
        settings = owner.settings
        self._alarm(
            "BuildFailed",
            amistate_metric(metrics.BUILDS_FAILED, metrics.service_dimensions()),
            "A preset's build failed or was cancelled; its runners keep the last good AMI.",
        )
        for name, preset in owner.presets.items():
            self._alarm(
                f"AmiAge-{preset.node.id.removeprefix('Preset-')}",
                amistate_metric(
                    metrics.AMI_AGE_DAYS,
                    metrics.preset_dimensions(name),
                    statistic="Maximum",
                    period=ONE_HOUR,
                ),
                f"Preset {name}: the AMI in its parameter is older than "
                f"{settings.ami_max_age_days} days (no successful build since).",
                threshold=settings.ami_max_age_days,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            )

    def _candidate_alarms(self, owner: AmiStatePipeline) -> None:
        """A rollout's candidate waiting too long (only presets with a manual or soak rollout)."""
        hours = owner.settings.candidate_max_wait_hours
        for name, preset in owner.presets.items():
            if preset.spec.rollout_policy not in ("manual", "soak"):
                continue
            self._alarm(
                f"CandidateWaiting-{preset.node.id.removeprefix('Preset-')}",
                amistate_metric(
                    metrics.CANDIDATE_AGE_HOURS,
                    metrics.preset_dimensions(name),
                    statistic="Maximum",
                    period=ONE_HOUR,
                ),
                f"Preset {name}: a candidate AMI has waited more than {hours} hours: promote "
                "or reject it (amistate promote / reject).",
                threshold=hours,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            )

    def _repair_alarms(self, owner: AmiStatePipeline) -> None:
        """Dead letters, rejected notifications, and what the reconciler had to repair."""
        service = metrics.service_dimensions()
        for queue_name, queue in (
            ("DeliveryDeadLetters", owner.delivery_dlq),
            ("FailedInvocations", owner.failed_invocations),
        ):
            self._alarm(
                f"{queue_name}NotEmpty",
                queue.metric_approximate_number_of_messages_visible(
                    statistic="Maximum", period=FIVE_MINUTES
                ),
                f"The {queue_name} queue holds events amistate could not process: "
                "replay them (amistate replay) once the cause is fixed.",
            )
        self._alarm(
            "NotificationRejected",
            amistate_metric(metrics.REJECTED_NOTIFICATIONS, service),
            "Image Builder contradicted an event or did not know its build (GetImage): "
            "nothing was written. Someone may be publishing forged notifications.",
        )
        self._alarm(
            "ReconcileRepaired",
            amistate_metric(metrics.RECONCILE_REPAIRS, service, period=Duration.minutes(15)),
            "The reconciler applied a build no event had delivered (a lost event, healed).",
        )
        self._alarm(
            "ReconcileFellBack",
            amistate_metric(metrics.RECONCILE_FALLBACKS, service, period=Duration.minutes(15)),
            "An AMI in SSM had vanished (deregistered, disabled or missing); the reconciler "
            "moved the preset to the newest good AMI that still exists.",
        )

    def _function_alarms(
        self, owner: AmiStatePipeline, functions: dict[str, lambda_.IFunction]
    ) -> None:
        """A function failing, an error amistate handled, and a reconciler that stopped."""
        for function_name, function in functions.items():
            self._alarm(
                f"{function_name}FunctionErrors",
                function.metric_errors(statistic="Sum", period=FIVE_MINUTES),
                f"The {function_name.lower()} function failed an invocation (see its logs).",
            )
        self._alarm(
            "ReportedErrors",
            amistate_metric(metrics.ERRORS, metrics.service_dimensions()),
            "amistate reported an error it handled (an event or a preset it could not "
            "process); its log line names the preset and the cause.",
        )
        self._alarm(
            "ReconcilerNotRunning",
            owner.reconcile_function.metric_invocations(statistic="Sum", period=ONE_HOUR),
            "The reconciler did not run for an hour: lost events and vanished AMIs are not "
            "repaired, and the AMI age alarms have no data.",
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            missing=cloudwatch.TreatMissingData.BREACHING,
        )

    def _pipeline_disabled(self) -> None:
        # Image Builder disables a pipeline after consecutive failed scheduled
        # builds: the event goes to the topic as is, and an alarm on the rule's
        # matches shows it beside the others.
        self.pipeline_disabled_rule = events.Rule(
            self,
            "PipelineDisabledRule",
            description="amistate: Image Builder disabled a pipeline after failed builds",
            event_pattern=events.EventPattern(
                source=["aws.imagebuilder"], detail_type=[PIPELINE_DISABLED_DETAIL_TYPE]
            ),
        )
        self.pipeline_disabled_rule.add_target(targets.SnsTopic(self.topic))
        self._alarm(
            "PipelineDisabled",
            cloudwatch.Metric(
                namespace="AWS/Events",
                metric_name="TriggeredRules",
                dimensions_map={"RuleName": self.pipeline_disabled_rule.rule_name},
                statistic="Sum",
                period=FIVE_MINUTES,
            ),
            "Image Builder disabled a pipeline after consecutive failed scheduled builds: "
            "fix the cause, then enable it again (the event, sent to this topic too, names it).",
            notify=False,
        )

    def _alarm(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        description: str,
        *,
        threshold: float = 1,
        comparison: cloudwatch.ComparisonOperator = (
            cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        ),
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
        notify: bool = True,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            name,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=1,
            treat_missing_data=missing,
            alarm_description=f"amistate {name}: {description} Runbook: {RUNBOOK}",
        )
        if notify:
            alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        self.alarms[name] = alarm
        return alarm

    @property
    def dashboard_url(self) -> str:
        """The dashboard in the CloudWatch console of the stack's region (partition ``aws``)."""
        return (
            f"https://console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
            f"#dashboards/dashboard/{self.dashboard.dashboard_name}"
        )


__all__ = ["PIPELINE_DISABLED_DETAIL_TYPE", "RUNBOOK", "AmiStateMonitoring", "amistate_metric"]
