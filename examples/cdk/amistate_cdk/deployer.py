"""The deploy function behind every preset's custom resource, and its Provider.

Per preset, the custom resource records the preset's config, creates its
initial state, pushes the Config to every region's parameter at once (keeping
the current AMI) and starts its first build (without waiting for it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import custom_resources as cr

from . import functions, nag, permissions

if TYPE_CHECKING:
    from .construct import AmiStatePipeline


def deploy_function(
    owner: AmiStatePipeline, code: lambda_.Code, environment: dict[str, str]
) -> lambda_.Function:
    """The function that records a preset, pushes its Config and starts its first build."""
    function = functions.function(
        owner,
        "DeployFunction",
        handler=functions.DEPLOY_HANDLER,
        code=code,
        environment=environment,
        description="amistate: records a preset, pushes its Config, starts its first build",
    )
    permissions.grant_table(owner, function, permissions.DEPLOY_TABLE_ACTIONS)
    permissions.grant_parameters(owner, function, permissions.DEPLOY_PARAMETER_ACTIONS)
    return function


def provider(owner: AmiStatePipeline, function: lambda_.Function) -> cr.Provider:
    """The CDK Provider framework in front of ``function``, with its own logs and role."""
    provider_log_group = functions.log_group(owner, "ProviderLogs")
    provider_role = functions.lambda_role(owner, "ProviderRole", provider_log_group)
    framework = cr.Provider(
        owner,
        "Provider",
        on_event_handler=function,
        framework_on_event_role=provider_role,
        log_group=provider_log_group,
    )
    nag.acknowledge_wildcard(
        provider_role,
        f"{function.function_arn}:*",
        "The Provider framework invokes the deploy function by any version or alias "
        "(`<arn>:*`); the CDK writes this statement, scoped to that one function.",
    )
    return framework


def grant_first_builds(function: lambda_.Function, pipelines: Sequence[str]) -> None:
    """``function`` may start a build of the presets' pipelines, no other."""
    function.add_to_role_policy(
        iam.PolicyStatement(
            sid="StartFirstBuild",
            actions=["imagebuilder:StartImagePipelineExecution"],
            resources=list(pipelines),
        )
    )


__all__ = ["deploy_function", "grant_first_builds", "provider"]
