"""How a build's outcome reaches the state function: rule -> queue -> function, and dead letters.

The EventBridge rule for terminal image states sends to an SQS queue; the
state Lambda reads it in batches at a maximum concurrency of 2 (a rebuild
storm converges at SSM's write limit: docs/performance.md, the storm). The
rule's delivery retries end in a dead-letter queue, a record that failed three
receives in a second one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from amistate.core.settings import SSM_WRITE_RATE

from . import functions, nag, permissions

if TYPE_CHECKING:
    from .construct import AmiStatePipeline

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


def dead_letter_queue(
    scope: Construct, construct_id: str, redrive_target: bool = False
) -> sqs.Queue:
    """A dead-letter queue (cdk-nag sees a redrive target as one by itself)."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
    if not redrive_target:
        nag.acknowledge(
            queue,
            "AwsSolutions-SQS3",
            "This queue is itself a dead-letter queue (the EventBridge target's DLQ); "
            "a DLQ of a DLQ would only hide messages.",
        )
    return queue


def state_queue(scope: Construct, failed_invocations: sqs.IQueue) -> sqs.Queue:
    """The queue between the rule and the state function (its DLQ: ``failed_invocations``)."""
    return sqs.Queue(
        scope,
        "StateEvents",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
        visibility_timeout=Duration.seconds(6 * STATE_TIMEOUT.to_seconds()),
        dead_letter_queue=sqs.DeadLetterQueue(
            max_receive_count=STATE_MAX_RECEIVES, queue=failed_invocations
        ),
    )


def state_function(
    owner: AmiStatePipeline, code: lambda_.Code, environment: dict[str, str]
) -> lambda_.Function:
    """The state function: Image Builder event -> DynamoDB -> SSM (paced to SSM's limit)."""
    return functions.function(
        owner,
        "StateFunction",
        handler=functions.STATE_HANDLER,
        code=code,
        environment={
            **environment,
            SSM_WRITE_RATE: f"{SSM_WRITES_PER_SECOND / STATE_MAX_CONCURRENCY:g}",
        },
        description="amistate: Image Builder image state change -> AMI state record and SSM",
        timeout=STATE_TIMEOUT,
    )


def consume(owner: AmiStatePipeline, function: lambda_.Function, queue: sqs.IQueue) -> None:
    """``function`` reads ``queue`` in paced batches, and may do what an event needs."""
    function.add_event_source(
        event_sources.SqsEventSource(
            queue,
            batch_size=STATE_BATCH_SIZE,
            max_batching_window=STATE_BATCH_WINDOW,
            max_concurrency=STATE_MAX_CONCURRENCY,
            report_batch_item_failures=True,
        )
    )
    permissions.grant_table(owner, function, permissions.STATE_TABLE_ACTIONS)
    permissions.grant_parameters(owner, function)
    images = Stack.of(owner).format_arn(service="imagebuilder", resource="image/*")
    function.add_to_role_policy(
        iam.PolicyStatement(
            sid="GetImageOfBuild", actions=["imagebuilder:GetImage"], resources=[images]
        )
    )
    nag.acknowledge_wildcard(
        function.role or function,
        images,
        "GetImage is called with the build version ARN of each event; build ARNs "
        "exist only at run time (one per build). Read-only, own account and region.",
    )


def image_state_rule(scope: Construct, queue: sqs.IQueue, dead_letters: sqs.IQueue) -> events.Rule:
    """The rule for terminal image states, delivering to ``queue`` for up to 24 hours."""
    rule = events.Rule(
        scope,
        "ImageStateRule",
        description="amistate: terminal EC2 Image Builder image states",
        event_pattern=events.EventPattern(
            source=[EVENT_PATTERN_SOURCE],
            detail_type=[EVENT_PATTERN_DETAIL_TYPE],
            detail={"state": {"status": list(TERMINAL_STATUSES)}},
        ),
    )
    rule.add_target(
        targets.SqsQueue(
            queue,
            dead_letter_queue=dead_letters,
            retry_attempts=RULE_RETRY_ATTEMPTS,
            max_event_age=RULE_MAX_EVENT_AGE,
        )
    )
    return rule


__all__ = [
    "EVENT_PATTERN_DETAIL_TYPE",
    "EVENT_PATTERN_SOURCE",
    "SSM_WRITES_PER_SECOND",
    "STATE_BATCH_SIZE",
    "STATE_MAX_CONCURRENCY",
    "STATE_TIMEOUT",
    "TERMINAL_STATUSES",
    "consume",
    "dead_letter_queue",
    "image_state_rule",
    "state_function",
    "state_queue",
]
