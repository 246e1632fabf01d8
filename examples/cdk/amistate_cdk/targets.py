"""Runners in other accounts: the names both sides of the trust must agree on.

The build stack's three functions reach each target account through the role
``AMISTATE_TARGET_ROLE`` there (:mod:`amistate_adapters.accounts`); that role
(:mod:`.target_role`) trusts exactly those functions' roles. Both stacks
compute the names here, from the build stack's name and the settings, so they
cannot disagree; a build stack without target accounts is left as it was (its
roles keep generated names and get no ``sts:AssumeRole``).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_

from amistate.core.settings import DEFAULT_TARGET_ROLE, TARGET_ROLE

from .settings import AmiStateSettings

if TYPE_CHECKING:
    from .construct import AmiStatePipeline

#: The construct IDs of the functions that write target accounts: an event's converge, a
#: deploy's Config push and the reconcile run all end in the same write-then-confirm loop.
FUNCTION_IDS = ("StateFunction", "DeployFunction", "ReconcileFunction")
#: IAM allows 64 characters in a role name.
ROLE_NAME_MAX = 64
_DIGEST = 8


def function_role_name(deployment: str, construct_id: str) -> str:
    """The fixed name of a function's role when the stack has target accounts:
    ``<stack name>-<function>``, the stack's name cut and hashed when too long
    (deterministic, so the target stacks name the same role)."""
    name = f"{deployment}-{construct_id}"
    if len(name) <= ROLE_NAME_MAX:
        return name
    digest = hashlib.sha256(deployment.encode()).hexdigest()[:_DIGEST]
    keep = ROLE_NAME_MAX - len(construct_id) - _DIGEST - 2
    return f"{deployment[:keep]}-{digest}-{construct_id}"


def function_role_arns(build_account: str, deployment: str) -> list[str]:
    """The ARNs of the build stack's function roles (what a target role trusts)."""
    return [
        f"arn:{Aws.PARTITION}:iam::{build_account}:role/{function_role_name(deployment, f)}"
        for f in FUNCTION_IDS
    ]


def target_role_arn(account: str, role_name: str) -> str:
    """The role amistate assumes in ``account`` (``Settings.target_role_arn``, as a template)."""
    return f"arn:{Aws.PARTITION}:iam::{account}:role/{role_name}"


def reaches_targets(settings: AmiStateSettings) -> bool:
    return bool(settings.target_accounts())


def role_name(owner: AmiStatePipeline, construct_id: str) -> str | None:
    """The function role's fixed name with target accounts; None (generated) without."""
    if not reaches_targets(owner.settings):
        return None
    return function_role_name(owner.deployment, construct_id)


def environment(settings: AmiStateSettings) -> dict[str, str]:
    """``AMISTATE_TARGET_ROLE`` when the target role has another name than amistate's default."""
    if settings.target_role_name == DEFAULT_TARGET_ROLE:
        return {}
    return {TARGET_ROLE: settings.target_role_name}


def grant_assume(owner: AmiStatePipeline, function: lambda_.Function) -> None:
    """``function`` may assume the target role in each listed account, no other account."""
    settings = owner.settings
    accounts = settings.target_accounts()
    if not accounts:
        return
    function.add_to_role_policy(
        iam.PolicyStatement(
            sid="AssumeTargetRoles",
            actions=["sts:AssumeRole"],
            resources=[target_role_arn(a, settings.target_role_name) for a in accounts],
        )
    )


__all__ = [
    "FUNCTION_IDS",
    "environment",
    "function_role_arns",
    "function_role_name",
    "grant_assume",
    "reaches_targets",
    "role_name",
    "target_role_arn",
]
