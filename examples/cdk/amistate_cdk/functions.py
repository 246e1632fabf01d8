"""The three Lambda functions' common shape: handler names, runtime, role, log group.

Each function gets its own log group and a role that may write that log group
and nothing else; what else it may do is granted where it is built
(:mod:`.delivery`, :mod:`.deployer`, :mod:`.reconciler`, :mod:`.permissions`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from . import nag, targets

if TYPE_CHECKING:
    from .construct import AmiStatePipeline

STATE_HANDLER = "amistate.shims.lambda_handler.handler"
DEPLOY_HANDLER = "amistate.shims.custom_resource.on_event"
RECONCILE_HANDLER = "amistate.shims.reconcile.handler"

_RUNTIME_NAME = re.compile(r"python3\.\d{1,2}")


def python_runtime(name: str) -> lambda_.Runtime:
    """The Lambda runtime called ``name`` (``python3.X``), known to this CDK version or not."""
    if not _RUNTIME_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a Lambda Python runtime name (python3.<minor>)")
    return lambda_.Runtime(name, lambda_.RuntimeFamily.PYTHON)


def log_group(scope: Construct, construct_id: str) -> logs.LogGroup:
    """A log group kept three months, removed with the stack."""
    return logs.LogGroup(
        scope,
        construct_id,
        retention=logs.RetentionDays.THREE_MONTHS,
        removal_policy=RemovalPolicy.DESTROY,
    )


def lambda_role(
    scope: Construct, construct_id: str, logs_of: logs.LogGroup, role_name: str | None = None
) -> iam.Role:
    """A role that may write its function's log group and nothing else (yet); ``role_name``:
    a fixed name (target accounts trust it by name), else CloudFormation's."""
    role = iam.Role(
        scope,
        construct_id,
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        role_name=role_name,
    )
    role.add_to_policy(
        iam.PolicyStatement(
            sid="WriteOwnLogs",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[logs_of.log_group_arn],
        )
    )
    return role


def function(
    owner: AmiStatePipeline,
    construct_id: str,
    *,
    handler: str,
    code: lambda_.Code,
    environment: dict[str, str],
    description: str,
    timeout: Duration | None = None,
) -> lambda_.Function:
    """One of amistate's functions, in ``owner``, with its own log group and role (which
    may assume the target accounts' role, when presets list any: :mod:`.targets`)."""
    logs_of = log_group(owner, f"{construct_id}Logs")
    fixed = targets.role_name(owner, construct_id)
    role = lambda_role(owner, f"{construct_id}Role", logs_of, fixed)
    built = lambda_.Function(
        owner,
        construct_id,
        runtime=owner.runtime,
        handler=handler,
        code=code,
        role=role,
        environment=environment,
        description=description,
        timeout=timeout or Duration.seconds(60),
        memory_size=256,
        log_group=logs_of,
        tracing=lambda_.Tracing.ACTIVE if owner.settings.tracing else lambda_.Tracing.DISABLED,
    )
    targets.grant_assume(owner, built)
    nag.acknowledge(
        built,
        "AwsSolutions-L1",
        "The runtime is the Python version the package's bytecode was compiled for "
        "(.lambda-asset/RUNTIME, written by make lambda-asset); a newer runtime would "
        "ignore that bytecode. Move it forward by building the asset with a newer Python.",
    )
    if owner.settings.tracing:
        owner.star_reason(
            role,
            "X-Ray PutTraceSegments/PutTelemetryRecords have no resource-level "
            "permissions; the CDK adds them only when tracing is on.",
        )
    return built


__all__ = [
    "DEPLOY_HANDLER",
    "RECONCILE_HANDLER",
    "STATE_HANDLER",
    "function",
    "lambda_role",
    "log_group",
    "python_runtime",
]
