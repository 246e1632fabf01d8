"""``AmiStatePipeline``: amistate wired for N presets, least privilege.

What one construct creates:

* the DynamoDB table (or a reference to the existing one, by name);
* per preset: an Image Builder recipe, infrastructure configuration,
  distribution configuration and a scheduled pipeline, plus a custom resource
  that records the preset's config, creates its initial state, pushes the
  Config to every region's parameter at once (keeping the current AMI) and
  starts its first build (without waiting for it);
* the EventBridge rule for terminal image states -> an SQS queue -> the state
  Lambda, in batches at a maximum concurrency of 2 (a rebuild storm converges
  at SSM's write limit: docs/performance.md, the storm); the rule's delivery
  retries end in a dead-letter queue, a record that failed three receives in a
  second one;
* the reconciler Lambda on a schedule (issue 13): lost events, vanished AMIs,
  SSM convergence and this deployment's in-use tags (``amistate:in-use:<stack
  name>``, :mod:`amistate.in_use`);
* per preset an Image Builder lifecycle policy that deletes old images but
  never an AMI this deployment tags in use;
* who may send to the state function's queue: the rule only, and with
  ``notifications`` Image Builder's SNS topic, which only Image Builder may
  publish to (:mod:`.notifications`);
* alarms, their SNS topic and a dashboard (:mod:`.monitoring`).

Every IAM statement is written out here, with the narrowest resource that
the action supports; the tests in ``tests/cdk`` hold it to that.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from typing import Any

from aws_cdk import (
    Acknowledgment,
    Aws,
    CustomResource,
    Duration,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_imagebuilder as imagebuilder
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import custom_resources as cr
from constructs import Construct, IConstruct

from amistate.in_use import LEGACY_KEY, PROTECTED, InUseKeys
from amistate.settings import DEPLOYMENT, DEPLOYMENT_NAME, HISTORY, SSM_WRITE_RATE

from .monitoring import AmiStateMonitoring
from .notifications import AmiStateNotifications, only_senders
from .settings import (
    AmiStateSettings,
    PresetSpec,
    pipeline_schedule,
    resource_slug,
    validate,
)

STATE_HANDLER = "amistate.shims.lambda_handler.handler"
DEPLOY_HANDLER = "amistate.shims.custom_resource.on_event"
RECONCILE_HANDLER = "amistate.shims.reconcile.handler"

#: Image Builder's service-role policy for lifecycle actions (AWS managed).
LIFECYCLE_MANAGED_POLICY = "service-role/EC2ImageBuilderLifecycleExecutionPolicy"
#: A reconcile run over many presets: about a second per 100 presets, and its
#: throttling retries.
RECONCILE_TIMEOUT = Duration.minutes(5)

_RUNTIME_NAME = re.compile(r"python3\.\d{1,2}")

#: What the EventBridge rule matches: the terminal states amistate acts on.
TERMINAL_STATUSES = ("AVAILABLE", "FAILED", "CANCELLED")
EVENT_PATTERN_SOURCE = "aws.imagebuilder"
EVENT_PATTERN_DETAIL_TYPE = "EC2 Image Builder Image State Change"

#: EventBridge -> Lambda delivery: retry for the full 24 h EventBridge allows.
RULE_RETRY_ATTEMPTS = 185
RULE_MAX_EVENT_AGE = Duration.hours(24)
#: The state queue -> function: batches of up to 10 events (one invocation's
#: writes, paced, fit its timeout many times over), gathered for at most 1 s;
#: at most 2 concurrent invocations (the least SQS allows), each starting at
#: most SSM_WRITES_PER_SECOND / 2 writes a second (AMISTATE_SSM_WRITE_RATE),
#: so the account stays at SSM's PutParameter limit, not over it.
STATE_BATCH_SIZE = 10
STATE_BATCH_WINDOW = Duration.seconds(1)
STATE_MAX_CONCURRENCY = 2
#: SSM's default PutParameter throughput per account and region.
SSM_WRITES_PER_SECOND = 3.0
#: Receives of a record that fails (named in batchItemFailures) before it moves
#: to the FailedInvocations queue; the visibility timeout between them is 6 x
#: the function's timeout, as AWS advises for an SQS event source.
STATE_MAX_RECEIVES = 3
STATE_TIMEOUT = Duration.seconds(60)

#: Table actions per function, as ``amistate_adapters.dynamodb`` calls them
#: (docs/adapters.md). All three are limited to ``AMI#*`` / ``PIPELINE#*`` keys
#: (``AmiStateSettings.leading_keys``); none makes a Query, PutItem or batch call.
#:
#: The state function reads the pipeline -> presets mapping (and, on a
#: condition failure a server did not answer with ALL_OLD, the record) and
#: applies an event with one conditional UpdateItem; SSM confirms read the
#: record (consistent GetItem).
STATE_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem")
#: The deploy function reads the record (consistent GetItem) to compute the
#: retired keys and push the Config, creates the initial state and registers
#: the preset with UpdateItem (the record, and ADD/DELETE on the mapping item's
#: string set), deletes the mapping item conditionally when its last preset
#: leaves (DeleteItem), and for a preset joining a pipeline reads the mapping
#: and its siblings' records (GetItem) and writes its own (UpdateItem).
DEPLOY_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
#: Create and Update push the Config to every region's parameter through the
#: state function's write-and-confirm loop: the same SSM (and KMS) grants.
#: GetParameterHistory: when PutParameter's version shows another writer's write
#: in between, its keys are read back (and an Advanced parameter's tier, when a
#: write naming none is refused).
DEPLOY_PARAMETER_ACTIONS = ("ssm:GetParameter", "ssm:GetParameterHistory", "ssm:PutParameter")
STATE_PARAMETER_ACTIONS = ("ssm:GetParameter", "ssm:GetParameterHistory", "ssm:PutParameter")
#: The reconciler reads every record, build history included (a map on the
#: record), in one paginated Scan; it confirms with GetItem and writes with
#: UpdateItem (transitions, history entries added and trimmed by REMOVE, the
#: fall back to an older AMI). DynamoDB's LeadingKeys condition cannot narrow
#: a Scan (it names no key): the Scan reads the whole table, the records only
#: by its filter. SSM parameters are read ten per GetParameters call and
#: converged as the state function does (GetParameter, GetParameterHistory,
#: PutParameter).
RECONCILE_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:Scan", "dynamodb:UpdateItem")
RECONCILE_PARAMETER_ACTIONS = (
    "ssm:GetParameter",
    "ssm:GetParameterHistory",
    "ssm:GetParameters",
    "ssm:PutParameter",
)
#: Per preset pipeline: its builds, newest first.
RECONCILE_PIPELINE_ACTIONS = ("imagebuilder:ListImagePipelineImages",)
#: Per preset image (build version ARN): its outcome and its workflows' end times.
RECONCILE_IMAGE_ACTIONS = ("imagebuilder:GetImage", "imagebuilder:ListWorkflowExecutions")
#: No resource-level permissions: whether an AMI still exists, and which carry the tag.
DESCRIBE_IMAGES = "ec2:DescribeImages"
#: Only this deployment's in-use tags, only on AMIs (DeleteTags also the legacy key).
TAG_ACTIONS = ("ec2:CreateTags", "ec2:DeleteTags")
#: DescribeParameters (key and tier of an existing SecureString, read before a
#: rewrite) has no resource-level permissions: granted on "*", and only when the
#: settings say the parameters are SecureStrings.
DESCRIBE_PARAMETERS = "ssm:DescribeParameters"
#: A customer managed key, used only through SSM (kms:ViaService): Decrypt for
#: GetParameter(WithDecryption), Encrypt / GenerateDataKey for PutParameter
#: (Standard / Advanced tier).
KMS_ACTIONS = ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey")


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
        stack = Stack.of(self)

        self.table = self._table()
        #: The deployment's name in its in-use tag keys: the stack's, known at synth
        #: (the table's may be a token), so the lifecycle exclusion can name the key.
        self.deployment = stack.stack_name
        if not DEPLOYMENT_NAME.fullmatch(self.deployment):
            raise ValueError(f"stack name {self.deployment!r} cannot name the in-use tag keys")
        self.in_use = InUseKeys.of(self.deployment)
        environment = {
            "AMISTATE_TABLE": self.table.table_name,
            "AMISTATE_PARAMETER_PREFIX": settings.parameter_prefix,
            DEPLOYMENT: self.deployment,
        }
        if settings.extra_regions:
            environment["AMISTATE_EXTRA_REGIONS"] = ",".join(settings.extra_regions)
        if settings.history_limit is not None:
            environment[HISTORY] = str(settings.history_limit)

        # Dead letters: events EventBridge could not deliver, and invocations
        # that failed after Lambda's own retries. Two queues: the messages have
        # different shapes (the raw event vs. an invocation record).
        self.delivery_dlq = self._queue("DeliveryDeadLetters")
        self.failed_invocations = self._queue("FailedInvocations", redrive_target=True)

        # The state function: Image Builder event -> DynamoDB -> SSM.
        self.state_function = self._function(
            "StateFunction",
            handler=STATE_HANDLER,
            code=code,
            environment={
                **environment,
                SSM_WRITE_RATE: f"{SSM_WRITES_PER_SECOND / STATE_MAX_CONCURRENCY:g}",
            },
            description="amistate: Image Builder image state change -> AMI state record and SSM",
            timeout=STATE_TIMEOUT,
        )
        self.state_events = self._state_queue()
        self.state_function.add_event_source(
            event_sources.SqsEventSource(
                self.state_events,
                batch_size=STATE_BATCH_SIZE,
                max_batching_window=STATE_BATCH_WINDOW,
                max_concurrency=STATE_MAX_CONCURRENCY,
                report_batch_item_failures=True,
            )
        )
        self._grant_table(self.state_function, STATE_TABLE_ACTIONS)
        self._grant_parameters(self.state_function)
        images = stack.format_arn(service="imagebuilder", resource="image/*")
        self.state_function.add_to_role_policy(
            iam.PolicyStatement(
                sid="GetImageOfBuild", actions=["imagebuilder:GetImage"], resources=[images]
            )
        )
        _acknowledge_wildcard(
            self.state_function.role or self.state_function,
            images,
            "GetImage is called with the build version ARN of each event; build ARNs "
            "exist only at run time (one per build). Read-only, own account and region.",
        )

        self.rule = events.Rule(
            self,
            "ImageStateRule",
            description="amistate: terminal EC2 Image Builder image states",
            event_pattern=events.EventPattern(
                source=[EVENT_PATTERN_SOURCE],
                detail_type=[EVENT_PATTERN_DETAIL_TYPE],
                detail={"state": {"status": list(TERMINAL_STATUSES)}},
            ),
        )
        self.rule.add_target(
            targets.SqsQueue(
                self.state_events,
                dead_letter_queue=self.delivery_dlq,
                retry_attempts=RULE_RETRY_ATTEMPTS,
                max_event_age=RULE_MAX_EVENT_AGE,
            )
        )
        # Opt-in: Image Builder's SNS notifications into the same queue; and only the
        # rule (and that topic) may send to it (.notifications).
        self.notifications: AmiStateNotifications | None = None
        sources = [self.rule.rule_arn]
        if settings.notifications:
            self.notifications = AmiStateNotifications(
                self, "Notifications", queue=self.state_events
            )
            sources.append(self.notifications.topic.topic_arn)
        only_senders(self.state_events, sources)

        # The deploy function behind every preset's custom resource.
        self.deploy_function = self._function(
            "DeployFunction",
            handler=DEPLOY_HANDLER,
            code=code,
            environment=environment,
            description="amistate: records a preset, pushes its Config, starts its first build",
        )
        self._grant_table(self.deploy_function, DEPLOY_TABLE_ACTIONS)
        self._grant_parameters(self.deploy_function, DEPLOY_PARAMETER_ACTIONS)
        provider_log_group = self._log_group("ProviderLogs")
        provider_role = self._lambda_role("ProviderRole", provider_log_group)
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.deploy_function,
            framework_on_event_role=provider_role,
            log_group=provider_log_group,
        )
        _acknowledge_wildcard(
            provider_role,
            f"{self.deploy_function.function_arn}:*",
            "The Provider framework invokes the deploy function by any version or alias "
            "(`<arn>:*`); the CDK writes this statement, scoped to that one function.",
        )

        self.instance_role = iam.Role(
            self,
            "BuildInstanceRole",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="amistate: Image Builder build and test instances",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(name)
                for name in ("AmazonSSMManagedInstanceCore", "EC2InstanceProfileForImageBuilder")
            ],
        )
        for name in ("AmazonSSMManagedInstanceCore", "EC2InstanceProfileForImageBuilder"):
            _acknowledge(
                self.instance_role,
                f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{name}]",
                "AWS documents these two managed policies as the build instance's minimum "
                "for Image Builder (SSM agent commands, component downloads, logs); AWS "
                "keeps them current with the service.",
            )
        self.instance_profile = iam.InstanceProfile(
            self, "BuildInstanceProfile", role=self.instance_role
        )

        self.presets = {
            preset.name: PresetPipeline(self, f"Preset-{resource_slug(preset.name)}", preset)
            for preset in settings.presets
        }
        self.deploy_function.add_to_role_policy(
            iam.PolicyStatement(
                sid="StartFirstBuild",
                actions=["imagebuilder:StartImagePipelineExecution"],
                resources=[p.pipeline.attr_arn for p in self.presets.values()],
            )
        )

        # The reconciler: on a schedule, converge on what Image Builder and EC2 hold.
        self.reconcile_function = self._function(
            "ReconcileFunction",
            handler=RECONCILE_HANDLER,
            code=code,
            environment=environment,
            description="amistate: reconcile records and SSM with Image Builder and EC2",
            timeout=RECONCILE_TIMEOUT,
        )
        self._grant_reconciler(self.reconcile_function)
        self.reconcile_rule = events.Rule(
            self,
            "ReconcileSchedule",
            description="amistate: run the reconciler",
            schedule=events.Schedule.expression(settings.reconcile_schedule),
        )
        self.reconcile_rule.add_target(
            targets.LambdaFunction(self.reconcile_function, retry_attempts=2)
        )

        self.monitoring = AmiStateMonitoring(self, "Monitoring", owner=self)
        for role, reasons in self._star_reasons.items():
            _acknowledge(role, "AwsSolutions-IAM5[Resource::*]", " ".join(reasons))

    # -- building blocks -------------------------------------------------

    def _table(self) -> dynamodb.ITable:
        if self.settings.table_name is not None:
            return dynamodb.Table.from_table_name(self, "Table", self.settings.table_name)
        return dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="PK", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="SK", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _state_queue(self) -> sqs.Queue:
        """The queue between the rule and the state function (its DLQ: FailedInvocations)."""
        return sqs.Queue(
            self,
            "StateEvents",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            visibility_timeout=Duration.seconds(6 * STATE_TIMEOUT.to_seconds()),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=STATE_MAX_RECEIVES, queue=self.failed_invocations
            ),
        )

    def _queue(self, construct_id: str, redrive_target: bool = False) -> sqs.Queue:
        """A dead-letter queue (cdk-nag sees a redrive target as one by itself)."""
        queue = sqs.Queue(
            self,
            construct_id,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        if not redrive_target:
            _acknowledge(
                queue,
                "AwsSolutions-SQS3",
                "This queue is itself a dead-letter queue (the EventBridge target's DLQ); "
                "a DLQ of a DLQ would only hide messages.",
            )
        return queue

    def _log_group(self, construct_id: str) -> logs.LogGroup:
        return logs.LogGroup(
            self,
            construct_id,
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.DESTROY,
        )

    def acknowledge(self, scope: IConstruct, rule: str, reason: str) -> None:
        """Acknowledge a cdk-nag finding on ``scope`` (for the constructs beside this one)."""
        _acknowledge(scope, rule, reason)

    @functools.cached_property
    def lifecycle_role(self) -> iam.Role:
        """The role Image Builder assumes to run the presets' lifecycle policies."""
        role = iam.Role(
            self,
            "LifecycleRole",
            assumed_by=iam.ServicePrincipal("imagebuilder.amazonaws.com"),
            description="amistate: Image Builder lifecycle policies of the preset images",
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(LIFECYCLE_MANAGED_POLICY)
            ],
        )
        _acknowledge(
            role,
            f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{LIFECYCLE_MANAGED_POLICY}]",
            "AWS documents EC2ImageBuilderLifecycleExecutionPolicy as the execution role "
            "policy of lifecycle policies (deregister AMIs, delete snapshots and images, "
            "read tags); AWS keeps it current with the service.",
        )
        return role

    def _grant_reconciler(self, function: lambda_.Function) -> None:
        stack = Stack.of(self)
        role = function.role
        assert role is not None
        self._grant_table(function, RECONCILE_TABLE_ACTIONS)
        self._grant_parameters(function, RECONCILE_PARAMETER_ACTIONS)
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ListPresetBuilds",
                actions=list(RECONCILE_PIPELINE_ACTIONS),
                resources=[p.pipeline.attr_arn for p in self.presets.values()],
            )
        )
        images = [p.images_arn for p in self.presets.values()]
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadPresetBuilds", actions=list(RECONCILE_IMAGE_ACTIONS), resources=images
            )
        )
        for arn in images:
            _acknowledge_wildcard(
                role,
                arn,
                "A preset's builds are image build versions of its recipes "
                "(image/<recipe>/<version>/<build>), known only at run time; the resource "
                "is limited to the recipe names of that preset. Read-only.",
            )
        function.add_to_role_policy(
            iam.PolicyStatement(sid="DescribeAmis", actions=[DESCRIBE_IMAGES], resources=["*"])
        )
        self._star_reasons.setdefault(role, []).append(
            "ec2:DescribeImages has no resource-level permissions; the reconciler reads "
            "whether the AMIs in SSM still exist and which carry its in-use tags."
        )
        amis = [
            stack.format_arn(service="ec2", region=region, account="", resource="image/*")
            for region in (stack.region, *self.settings.extra_regions)
        ]
        keys = self.in_use
        for sid, action, allowed in (
            ("SetOwnInUseTags", "ec2:CreateTags", list(keys.owned)),
            ("RemoveOwnInUseTags", "ec2:DeleteTags", [*keys.owned, LEGACY_KEY]),
        ):
            function.add_to_role_policy(
                iam.PolicyStatement(
                    sid=sid,
                    actions=[action],
                    resources=amis,
                    conditions={
                        "ForAllValues:StringEquals": {"aws:TagKeys": allowed},
                        # DeleteTags without tag keys would delete every tag: refuse it.
                        "Null": {"aws:TagKeys": "false"},
                    },
                )
            )
        for arn in amis:
            _acknowledge_wildcard(
                role,
                arn,
                "The AMIs a preset needs are known only at run time; the statements allow "
                f"only this deployment's tag keys ({', '.join(keys.owned)}; and removing the "
                f"legacy {LEGACY_KEY}), aws:TagKeys never absent, on AMIs only.",
            )

    def _lambda_role(self, construct_id: str, log_group: logs.LogGroup) -> iam.Role:
        """A role that may write its function's log group and nothing else (yet)."""
        role = iam.Role(self, construct_id, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            )
        )
        return role

    def _function(
        self,
        construct_id: str,
        *,
        handler: str,
        code: lambda_.Code,
        environment: dict[str, str],
        description: str,
        timeout: Duration | None = None,
    ) -> lambda_.Function:
        log_group = self._log_group(f"{construct_id}Logs")
        role = self._lambda_role(f"{construct_id}Role", log_group)
        function = lambda_.Function(
            self,
            construct_id,
            runtime=self.runtime,
            handler=handler,
            code=code,
            role=role,
            environment=environment,
            description=description,
            timeout=timeout or Duration.seconds(60),
            memory_size=256,
            log_group=log_group,
            tracing=lambda_.Tracing.ACTIVE if self.settings.tracing else lambda_.Tracing.DISABLED,
        )
        _acknowledge(
            function,
            "AwsSolutions-L1",
            "The runtime is the Python version the package's bytecode was compiled for "
            "(.lambda-asset/RUNTIME, written by make lambda-asset); a newer runtime would "
            "ignore that bytecode. Move it forward by building the asset with a newer Python.",
        )
        if self.settings.tracing:
            self._star_reasons.setdefault(role, []).append(
                "X-Ray PutTraceSegments/PutTelemetryRecords have no resource-level "
                "permissions; the CDK adds them only when tracing is on."
            )
        return function

    def _grant_table(self, function: lambda_.Function, actions: tuple[str, ...]) -> None:
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="AmiStateItems",
                actions=list(actions),
                resources=[self.table.table_arn],
                conditions={
                    "ForAllValues:StringLike": {
                        "dynamodb:LeadingKeys": list(self.settings.leading_keys)
                    }
                },
            )
        )

    def _grant_parameters(
        self, function: lambda_.Function, actions: tuple[str, ...] = STATE_PARAMETER_ACTIONS
    ) -> None:
        stack = Stack.of(self)
        prefix = self.settings.parameter_prefix.strip("/")
        regions = (stack.region, *self.settings.extra_regions)
        parameters = [
            stack.format_arn(
                service="ssm", region=region, resource="parameter", resource_name=prefix
            )
            + "/*"
            for region in regions
        ]
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="PresetParameters",
                actions=list(actions),
                resources=parameters,
            )
        )
        role = function.role
        assert role is not None
        for arn in parameters:
            _acknowledge_wildcard(
                role,
                arn,
                "One SSM parameter per preset under the amistate prefix, in the stack's "
                "region and each extra region; the prefix is the narrowest fixed resource.",
            )
        key = self.settings.secure_string_key_arn
        if key is not None:
            function.add_to_role_policy(
                iam.PolicyStatement(
                    sid="SecureStringKey",
                    actions=list(KMS_ACTIONS),
                    resources=[key],
                    conditions={
                        "StringEquals": {
                            "kms:ViaService": [f"ssm.{region}.amazonaws.com" for region in regions]
                        }
                    },
                )
            )
        if self.settings.secure_strings or key is not None:
            function.add_to_role_policy(
                iam.PolicyStatement(
                    sid="DescribeSecureString", actions=[DESCRIBE_PARAMETERS], resources=["*"]
                )
            )
            self._star_reasons.setdefault(role, []).append(
                "ssm:DescribeParameters has no resource-level permissions; it is granted only "
                "when the parameters are SecureStrings, to keep their key and tier on rewrite."
            )


class PresetPipeline(Construct):
    """One preset: recipe, infrastructure, distribution, scheduled pipeline, custom resource."""

    def __init__(self, owner: AmiStatePipeline, construct_id: str, preset: PresetSpec) -> None:
        super().__init__(owner, construct_id)
        settings = owner.settings
        stack = Stack.of(self)
        base = f"{settings.name_prefix}-{resource_slug(preset.name)}"
        recipe_spec = preset.recipe
        tags = {"amistate:preset": preset.name}

        def expand(text: str) -> str:
            return text.replace("{region}", Aws.REGION).replace("{partition}", Aws.PARTITION)

        block_devices = None
        if recipe_spec.root_volume_gib is not None:
            block_devices = [
                imagebuilder.CfnImageRecipe.InstanceBlockDeviceMappingProperty(
                    device_name="/dev/xvda",
                    ebs=imagebuilder.CfnImageRecipe.EbsInstanceBlockDeviceSpecificationProperty(
                        volume_size=recipe_spec.root_volume_gib,
                        volume_type="gp3",
                        encrypted=True,
                        delete_on_termination=True,
                    ),
                )
            ]
        self.recipe = imagebuilder.CfnImageRecipe(
            self,
            "Recipe",
            # Recipes are immutable: a changed recipe gets a new name (the
            # fingerprint), so CloudFormation creates it before dropping the old.
            name=f"{base}-{recipe_spec.fingerprint()}",
            version=recipe_spec.version,
            parent_image=expand(recipe_spec.parent_image),
            components=[
                imagebuilder.CfnImageRecipe.ComponentConfigurationProperty(
                    component_arn=expand(arn)
                )
                for arn in recipe_spec.components
            ],
            block_device_mappings=block_devices,
            tags=tags,
        )
        self.infrastructure = imagebuilder.CfnInfrastructureConfiguration(
            self,
            "Infrastructure",
            name=base,
            instance_profile_name=owner.instance_profile.instance_profile_name,
            instance_types=list(recipe_spec.build_instance_types),
            subnet_id=recipe_spec.subnet_id,
            security_group_ids=list(recipe_spec.security_group_ids) or None,
            terminate_instance_on_failure=True,
            sns_topic_arn=owner.notifications.topic.topic_arn if owner.notifications else None,
            instance_metadata_options=imagebuilder.CfnInfrastructureConfiguration.InstanceMetadataOptionsProperty(
                http_tokens="required", http_put_response_hop_limit=2
            ),
            tags=tags,
        )
        self.distribution = imagebuilder.CfnDistributionConfiguration(
            self,
            "Distribution",
            name=base,
            distributions=[
                imagebuilder.CfnDistributionConfiguration.DistributionProperty(
                    region=region,
                    ami_distribution_configuration={
                        "Name": f"{base}-{{{{ imagebuilder:buildDate }}}}",
                        "AmiTags": tags,
                    },
                )
                for region in (stack.region, *settings.extra_regions)
            ],
            tags=tags,
        )
        schedule: dict[str, str] = {
            "scheduleExpression": pipeline_schedule(settings, preset),
            "pipelineExecutionStartCondition": settings.start_condition,
        }
        if settings.schedule_timezone is not None:
            schedule["timezone"] = settings.schedule_timezone
        self.pipeline = imagebuilder.CfnImagePipeline(
            self,
            "Pipeline",
            name=base,
            description=f"amistate preset {preset.name}",
            image_recipe_arn=self.recipe.attr_arn,
            infrastructure_configuration_arn=self.infrastructure.attr_arn,
            distribution_configuration_arn=self.distribution.attr_arn,
            schedule=imagebuilder.CfnImagePipeline.ScheduleProperty(
                schedule_expression=schedule["scheduleExpression"],
                pipeline_execution_start_condition=schedule["pipelineExecutionStartCondition"],
                timezone=schedule.get("timezone"),
            ),
            enhanced_image_metadata_enabled=True,
            status="ENABLED",
            tags=tags,
        )
        #: Every build of this preset: image build versions of its recipes, whatever
        #: their fingerprint (``image/<base>-<hash8>/<version>/<build>``).
        self.images_arn = stack.format_arn(service="imagebuilder", resource=f"image/{base}-*")
        self.parameter_name = f"{settings.parameter_prefix.rstrip('/')}/{preset.name}"
        self.lifecycle_policy: imagebuilder.CfnLifecyclePolicy | None = None
        if settings.lifecycle.enabled:
            self.lifecycle_policy = self._lifecycle_policy(owner, base, preset)
        self.resource = CustomResource(
            self,
            "State",
            service_token=owner.provider.service_token,
            resource_type="Custom::AmiStatePreset",
            properties={
                "PresetName": preset.name,
                "PipelineArn": self.pipeline.attr_arn,
                # A JSON object in a string: CloudFormation would turn 3600 and
                # true into "3600" and "true" in a plain property.
                "Config": json.dumps(preset.config(), sort_keys=True, separators=(",", ":")),
                "StartBuild": "true" if preset.start_build else "false",
            },
        )
        # The first build must not finish before anyone listens for its event.
        self.resource.node.add_dependency(owner.rule)
        self.resource.node.add_dependency(owner.state_function)

    def _lifecycle_policy(
        self, owner: AmiStatePipeline, base: str, preset: PresetSpec
    ) -> imagebuilder.CfnLifecyclePolicy:
        """Delete the preset's old images (AMI and snapshots), never an AMI in use."""
        spec = owner.settings.lifecycle
        cfn = imagebuilder.CfnLifecyclePolicy
        if spec.max_age_days is None:
            rule = cfn.FilterProperty(type="COUNT", value=spec.keep_images)
        else:
            rule = cfn.FilterProperty(
                type="AGE",
                value=spec.max_age_days,
                unit="DAYS",
                retain_at_least=min(spec.keep_images, 10),
            )
        return cfn(
            self,
            "Lifecycle",
            name=f"{base}-images",
            description=f"amistate preset {preset.name}: old images, never AMIs in use",
            execution_role=owner.lifecycle_role.role_arn,
            resource_type="AMI_IMAGE",
            status="ENABLED",
            policy_details=[
                cfn.PolicyDetailProperty(
                    action=cfn.ActionProperty(
                        type="DELETE",
                        include_resources=cfn.IncludeResourcesProperty(amis=True, snapshots=True),
                    ),
                    filter=rule,
                    exclusion_rules=cfn.ExclusionRulesProperty(
                        amis=cfn.AmiExclusionRulesProperty(tag_map=in_use_exclusion(owner.in_use))
                    ),
                )
            ],
            resource_selection=cfn.ResourceSelectionProperty(
                recipes=[
                    cfn.RecipeSelectionProperty(
                        name=self.recipe.attr_name, semantic_version=preset.recipe.version
                    )
                ]
            ),
            tags={"amistate:preset": preset.name},
        )


def in_use_exclusion(keys: InUseKeys) -> dict[str, str]:
    """The lifecycle exclusion ``TagMap`` that spares every AMI this deployment needs.

    A ``TagMap`` matches key and value exactly, one value per key; the reconciler
    sets the deployment's protection key to one constant value on every AMI any of
    its presets needs (:mod:`amistate.in_use`), whatever presets share a pipeline
    and whatever other deployments tag in the account: one entry spares them all.
    """
    return {keys.protect: PROTECTED}


def python_runtime(name: str) -> lambda_.Runtime:
    """The Lambda runtime called ``name`` (``python3.X``), known to this CDK version or not."""
    if not _RUNTIME_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a Lambda Python runtime name (python3.<minor>)")
    return lambda_.Runtime(name, lambda_.RuntimeFamily.PYTHON)


def _nag_text(scope: IConstruct, value: str) -> str:
    """``value`` (an ARN, possibly with tokens) as cdk-nag prints it in a finding ID."""
    return _render(Stack.of(scope).resolve(value))


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return f"<{arg}>"
        if fn == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if fn == "Fn::Join":
            return str(arg[0]).join(_render(part) for part in arg[1])
    raise ValueError(f"cannot render {value!r} as cdk-nag does")


def _acknowledge_wildcard(role: IConstruct, resource: str, reason: str) -> None:
    """Acknowledge cdk-nag's IAM5 finding for one wildcard resource of ``role``."""
    _acknowledge(role, f"AwsSolutions-IAM5[Resource::{_nag_text(role, resource)}]", reason)


def _acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


__all__ = [
    "AmiStatePipeline",
    "PresetPipeline",
    "in_use_exclusion",
    "python_runtime",
]
