"""``AmiStatePipeline``: amistate wired for N presets, least privilege.

What one construct creates, each part built by the module named for it:

* the DynamoDB table (or a reference to the existing one, by name): :mod:`.table`;
* per preset: an Image Builder recipe, infrastructure configuration,
  distribution configuration, a scheduled pipeline, a lifecycle policy that
  deletes old images but never an AMI this deployment tags in use, and a custom
  resource: :mod:`.presets`; the deploy function that answers it, which records
  the preset's config, creates its initial state, pushes the Config to every
  region's parameter at once (keeping the current AMI) and starts its first
  build (without waiting for it): :mod:`.deployer`;
* the EventBridge rule for terminal image states -> an SQS queue -> the state
  Lambda, and the dead-letter queues: :mod:`.delivery`;
* the reconciler Lambda on a schedule (issue 13): :mod:`.reconciler`;
* the build instances' and the lifecycle policies' roles: :mod:`.image_roles`;
* who may send to the state function's queue: the rule only, and with
  ``notifications`` Image Builder's SNS topic, which only Image Builder may
  publish to (:mod:`.notifications`);
* alarms, their SNS topic and a dashboard (:mod:`.monitoring`).

Every IAM statement is written out in these modules (the actions in
:mod:`.permissions`), with the narrowest resource that the action supports;
the tests in ``tests/cdk`` hold it to that. Each cdk-nag acknowledgment sits
next to its construct (:mod:`.nag`).
"""

from __future__ import annotations

import functools
import sys

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct, IConstruct

from amistate.core.in_use import InUseKeys
from amistate.core.settings import DEPLOYMENT, DEPLOYMENT_NAME, HISTORY

from . import delivery, deployer, image_roles, nag, reconciler, targets
from .functions import python_runtime
from .monitoring import AmiStateMonitoring
from .notifications import AmiStateNotifications, only_senders
from .presets import PresetPipeline, in_use_exclusion
from .settings import AmiStateSettings, resource_slug, validate
from .table import state_table


class AmiStatePipeline(Construct):
    """amistate for the presets in ``settings``; ``code`` is the package (``make lambda-asset``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: AmiStateSettings,
        code: lambda_.Code,
        runtime: lambda_.Runtime | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        validate(settings)
        self.settings = settings
        #: The runtime the package's bytecode was compiled for (``stack.lambda_runtime``).
        self.runtime = runtime or python_runtime(
            f"python{sys.version_info[0]}.{sys.version_info[1]}"
        )
        # Why a role has a "*" resource (one acknowledgment per role, all reasons).
        self._star_reasons: dict[iam.IRole, list[str]] = {}
        self.table = state_table(self, settings)
        #: The deployment's name in its in-use tag keys: the stack's, known at synth
        #: (the table's may be a token), so the lifecycle exclusion can name the key.
        self.deployment = Stack.of(self).stack_name
        if not DEPLOYMENT_NAME.fullmatch(self.deployment):
            raise ValueError(f"stack name {self.deployment!r} cannot name the in-use tag keys")
        self.in_use = InUseKeys.of(self.deployment)
        environment = self._environment()

        # Dead letters: events EventBridge could not deliver, and invocations
        # that failed after Lambda's own retries. Two queues: the messages have
        # different shapes (the raw event vs. an invocation record).
        self.delivery_dlq = delivery.dead_letter_queue(self, "DeliveryDeadLetters")
        self.failed_invocations = delivery.dead_letter_queue(
            self, "FailedInvocations", redrive_target=True
        )
        self._event_path(code, environment)

        self.deploy_function = deployer.deploy_function(self, code, environment)
        self.provider = deployer.provider(self, self.deploy_function)
        self.instance_role = image_roles.build_instance_role(self)
        self.instance_profile = iam.InstanceProfile(
            self, "BuildInstanceProfile", role=self.instance_role
        )
        self.presets = {
            preset.name: PresetPipeline(self, f"Preset-{resource_slug(preset.name)}", preset)
            for preset in settings.presets
        }
        deployer.grant_first_builds(
            self.deploy_function, [p.pipeline.attr_arn for p in self.presets.values()]
        )

        self.reconcile_function = reconciler.reconcile_function(self, code, environment)
        self.reconcile_rule = reconciler.reconcile_schedule(self, self.reconcile_function)

        self.monitoring = AmiStateMonitoring(self, "Monitoring", owner=self)
        for role, reasons in self._star_reasons.items():
            nag.acknowledge(role, "AwsSolutions-IAM5[Resource::*]", " ".join(reasons))

    def _environment(self) -> dict[str, str]:
        """What every function reads (``amistate.core.settings``)."""
        settings = self.settings
        environment = {
            "AMISTATE_TABLE": self.table.table_name,
            "AMISTATE_PARAMETER_PREFIX": settings.parameter_prefix,
            DEPLOYMENT: self.deployment,
        }
        if settings.extra_regions:
            environment["AMISTATE_EXTRA_REGIONS"] = ",".join(settings.extra_regions)
        if settings.history_limit is not None:
            environment[HISTORY] = str(settings.history_limit)
        if targets.reaches_targets(settings):
            environment |= targets.environment(settings)
        return environment

    def _event_path(self, code: lambda_.Code, environment: dict[str, str]) -> None:
        """Image Builder's events (and, opted in, its notifications) -> queue -> state function."""
        self.state_function = delivery.state_function(self, code, environment)
        self.state_events = delivery.state_queue(self, self.failed_invocations)
        delivery.consume(self, self.state_function, self.state_events)
        self.rule = delivery.image_state_rule(self, self.state_events, self.delivery_dlq)
        # Opt-in: Image Builder's SNS notifications into the same queue; and only the
        # rule (and that topic) may send to it (.notifications).
        self.notifications: AmiStateNotifications | None = None
        sources = [self.rule.rule_arn]
        if self.settings.notifications:
            self.notifications = AmiStateNotifications(
                self, "Notifications", queue=self.state_events
            )
            sources.append(self.notifications.topic.topic_arn)
        only_senders(self.state_events, sources)

    def star_reason(self, role: iam.IRole, reason: str) -> None:
        """Say why ``role`` has a ``"*"`` resource (one acknowledgment per role, all reasons)."""
        self._star_reasons.setdefault(role, []).append(reason)

    def acknowledge(self, scope: IConstruct, rule: str, reason: str) -> None:
        """Acknowledge a cdk-nag finding on ``scope`` (for the constructs beside this one)."""
        nag.acknowledge(scope, rule, reason)

    @functools.cached_property
    def lifecycle_role(self) -> iam.Role:
        """The role Image Builder assumes to run the presets' lifecycle policies."""
        return image_roles.lifecycle_role(self)


__all__ = [
    "AmiStatePipeline",
    "PresetPipeline",
    "in_use_exclusion",
    "python_runtime",
]
