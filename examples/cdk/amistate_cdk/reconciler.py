"""The reconciler Lambda on a schedule (issue 13), and what it may do.

It heals lost events and vanished AMIs, converges SSM and keeps this
deployment's in-use tags (``amistate:in-use:<stack name>``,
:mod:`amistate.core.in_use`), which the lifecycle policies never delete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_

from . import functions, nag, permissions

if TYPE_CHECKING:
    from .construct import AmiStatePipeline

#: A reconcile run over many presets: about a second per 100 presets, and its
#: throttling retries.
RECONCILE_TIMEOUT = Duration.minutes(5)


def reconcile_function(
    owner: AmiStatePipeline, code: lambda_.Code, environment: dict[str, str]
) -> lambda_.Function:
    """The reconciler: converge on what Image Builder and EC2 hold, with its grants."""
    function = functions.function(
        owner,
        "ReconcileFunction",
        handler=functions.RECONCILE_HANDLER,
        code=code,
        environment=environment,
        description="amistate: reconcile records and SSM with Image Builder and EC2",
        timeout=RECONCILE_TIMEOUT,
    )
    permissions.grant_table(owner, function, permissions.RECONCILE_TABLE_ACTIONS)
    permissions.grant_parameters(
        owner, function, permissions.RECONCILE_PARAMETER_ACTIONS, describes_images=True
    )
    _grant_builds(owner, function)
    _grant_in_use_tags(owner, function)
    return function


def reconcile_schedule(owner: AmiStatePipeline, function: lambda_.Function) -> events.Rule:
    """The rule that runs ``function`` on the settings' reconcile schedule."""
    rule = events.Rule(
        owner,
        "ReconcileSchedule",
        description="amistate: run the reconciler",
        schedule=events.Schedule.expression(owner.settings.reconcile_schedule),
    )
    rule.add_target(targets.LambdaFunction(function, retry_attempts=2))
    return rule


def _grant_builds(owner: AmiStatePipeline, function: lambda_.Function) -> None:
    """The presets' pipelines and their builds, read-only."""
    role = function.role
    assert role is not None
    function.add_to_role_policy(
        iam.PolicyStatement(
            sid="ListPresetBuilds",
            actions=list(permissions.RECONCILE_PIPELINE_ACTIONS),
            resources=[p.pipeline.attr_arn for p in owner.presets.values()],
        )
    )
    images = [p.images_arn for p in owner.presets.values()]
    function.add_to_role_policy(
        iam.PolicyStatement(
            sid="ReadPresetBuilds",
            actions=list(permissions.RECONCILE_IMAGE_ACTIONS),
            resources=images,
        )
    )
    for arn in images:
        nag.acknowledge_wildcard(
            role,
            arn,
            "A preset's builds are image build versions of its recipes "
            "(image/<recipe>/<version>/<build>), known only at run time; the resource "
            "is limited to the recipe names of that preset. Read-only.",
        )


def _grant_in_use_tags(owner: AmiStatePipeline, function: lambda_.Function) -> None:
    """Which AMIs exist and carry the tags; this deployment's in-use tags on AMIs, no other."""
    role = function.role
    assert role is not None
    function.add_to_role_policy(
        iam.PolicyStatement(
            sid="DescribeAmis", actions=[permissions.DESCRIBE_IMAGES], resources=["*"]
        )
    )
    owner.star_reason(
        role,
        "ec2:DescribeImages has no resource-level permissions; the reconciler reads "
        "whether the AMIs in SSM still exist and which carry its in-use tags.",
    )
    regions = (Stack.of(owner).region, *owner.settings.extra_regions)
    permissions.grant_in_use_tags(role, owner.in_use, regions)


__all__ = ["RECONCILE_TIMEOUT", "reconcile_function", "reconcile_schedule"]
