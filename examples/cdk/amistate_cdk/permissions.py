"""What each function may do with the table and the parameters, and the grants that say it.

Every IAM statement amistate's functions get is written out in this package,
with the narrowest resource the action supports; the tests in ``tests/cdk``
hold it to that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_

from amistate.core.in_use import LEGACY_KEY, InUseKeys

from . import nag

if TYPE_CHECKING:
    from .construct import AmiStatePipeline

#: Table actions per function, as ``amistate_adapters.dynamodb`` calls them
#: (docs/adapters.md). All three are limited to ``AMI#*`` / ``PIPELINE#*`` keys
#: (``AmiStateSettings.leading_keys``); none makes a Query, PutItem or batch write.
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
#: record), in one paginated Scan; it writes with UpdateItem (transitions,
#: history entries added and trimmed by REMOVE, the fall back to an older AMI)
#: and confirms its writes together with consistent BatchGetItem (GetItem for a
#: second round, the records of named presets, a server without ALL_OLD).
#: DynamoDB's LeadingKeys condition cannot narrow a Scan (it names no key): the
#: Scan reads the whole table, the records only by its filter. SSM parameters
#: are read ten per GetParameters call and converged as the state function does
#: (GetParameter, GetParameterHistory, PutParameter).
RECONCILE_TABLE_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:GetItem",
    "dynamodb:Scan",
    "dynamodb:UpdateItem",
)
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


def grant_table(
    owner: AmiStatePipeline, function: lambda_.Function, actions: tuple[str, ...]
) -> None:
    """``actions`` on the table, on amistate's keys only."""
    function.add_to_role_policy(
        iam.PolicyStatement(
            sid="AmiStateItems",
            actions=list(actions),
            resources=[owner.table.table_arn],
            conditions={
                "ForAllValues:StringLike": {
                    "dynamodb:LeadingKeys": list(owner.settings.leading_keys)
                }
            },
        )
    )


def grant_parameters(
    owner: AmiStatePipeline,
    function: lambda_.Function,
    actions: tuple[str, ...] = STATE_PARAMETER_ACTIONS,
    *,
    describes_images: bool = False,
) -> None:
    """``actions`` on the presets' parameters in every region, their AMI parameters (each
    by its name) among them, and their key when they have one.

    Parameter Store requires ``ec2:DescribeImages`` of whoever writes an
    ``aws:ec2:image`` value: granted with the AMI parameters, unless the function
    ``describes_images`` already (the reconciler).
    """
    stack = Stack.of(owner)
    settings = owner.settings
    prefix = settings.parameter_prefix.strip("/")
    regions = (stack.region, *settings.extra_regions)
    parameters = [_parameter(stack, region, prefix) + "/*" for region in regions]
    names = [p.ami_parameter.lstrip("/") for p in settings.presets if p.ami_parameter]
    amis = [_parameter(stack, region, name) for name in names for region in regions]
    function.add_to_role_policy(
        iam.PolicyStatement(
            sid="PresetParameters", actions=list(actions), resources=parameters + amis
        )
    )
    role = function.role
    assert role is not None
    if amis and not describes_images:
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="AmiParameterImages", actions=[DESCRIBE_IMAGES], resources=["*"]
            )
        )
        owner.star_reason(
            role,
            "ec2:DescribeImages has no resource-level permissions; Parameter Store requires "
            "it of whoever writes an aws:ec2:image parameter (a preset's AmiParameter).",
        )
    for arn in parameters:
        nag.acknowledge_wildcard(
            role,
            arn,
            "One SSM parameter per preset under the amistate prefix, in the stack's "
            "region and each extra region; the prefix is the narrowest fixed resource.",
        )
    _grant_secure_strings(owner, function, regions)


def grant_in_use_tags(role: iam.IRole, keys: InUseKeys, regions: Sequence[str]) -> None:
    """``ec2:CreateTags``/``DeleteTags`` on AMIs in ``regions``, for the deployment's in-use
    ``keys`` only (removing also the legacy key): the reconciler's at home, the target role's
    in a runners' account."""
    stack = Stack.of(role)
    amis = [
        stack.format_arn(service="ec2", region=region, account="", resource="image/*")
        for region in regions
    ]
    for sid, action, allowed in (
        ("SetOwnInUseTags", "ec2:CreateTags", list(keys.owned)),
        ("RemoveOwnInUseTags", "ec2:DeleteTags", [*keys.owned, LEGACY_KEY]),
    ):
        role.add_to_principal_policy(
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
        nag.acknowledge_wildcard(
            role,
            arn,
            "The AMIs a preset needs are known only at run time; the statements allow "
            f"only the deployment's tag keys ({', '.join(keys.owned)}; and removing the "
            f"legacy {LEGACY_KEY}), aws:TagKeys never absent, on AMIs only.",
        )


def _parameter(stack: Stack, region: str, name: str) -> str:
    """The ARN of parameter ``name`` (without its leading slash) in ``region``."""
    return stack.format_arn(service="ssm", region=region, resource="parameter", resource_name=name)


def _grant_secure_strings(
    owner: AmiStatePipeline, function: lambda_.Function, regions: tuple[str, ...]
) -> None:
    """The SecureStrings' key via SSM, and DescribeParameters to keep key and tier."""
    settings = owner.settings
    role = function.role
    assert role is not None
    key = settings.secure_string_key_arn
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
    if settings.secure_strings or key is not None:
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="DescribeSecureString", actions=[DESCRIBE_PARAMETERS], resources=["*"]
            )
        )
        owner.star_reason(
            role,
            "ssm:DescribeParameters has no resource-level permissions; it is granted only "
            "when the parameters are SecureStrings, to keep their key and tier on rewrite.",
        )


__all__ = [
    "DEPLOY_PARAMETER_ACTIONS",
    "DEPLOY_TABLE_ACTIONS",
    "DESCRIBE_IMAGES",
    "DESCRIBE_PARAMETERS",
    "KMS_ACTIONS",
    "RECONCILE_IMAGE_ACTIONS",
    "RECONCILE_PARAMETER_ACTIONS",
    "RECONCILE_PIPELINE_ACTIONS",
    "RECONCILE_TABLE_ACTIONS",
    "STATE_PARAMETER_ACTIONS",
    "STATE_TABLE_ACTIONS",
    "TAG_ACTIONS",
    "grant_in_use_tags",
    "grant_parameters",
    "grant_table",
]
