"""``TargetAccountRole``: what a runners' account lets amistate do, and ``AmiStateTargetStack``.

Deployed in each target account, before the build stack (docs/configuration.md,
"Runners in other accounts"). The role amistate assumes (``AMISTATE_TARGET_ROLE``)
trusts the build account with a condition naming its three function roles
(``aws:PrincipalArn``), not the roles as principals: IAM refuses a trust policy
whose principal is a role that does not exist yet (and pins an existing one by its
unique ID, so a replaced role would silently lose access), while a condition on
the principal's ARN can be deployed first, and lets in exactly the same roles.
It may read and write the parameters of the presets that list this account (and
their plain AMI parameters), in the stack's region and each extra region, read
which AMIs exist (``DescribeImages``: the reconcile run, and Parameter Store asks
it of whoever writes an AMI parameter), and set or remove the build deployment's in-use tags on
AMIs, no other tag.

Image Builder copies the AMIs into the account through its own role there,
``EC2ImageBuilderDistributionCrossAccountRole`` (AWS managed policy
``Ec2ImageBuilderCrossAccountDistributionAccess``, trusting the build account,
as AWS documents it); ``distribution_role=False`` leaves it out for an account
that has it already.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Environment, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from amistate.core.in_use import InUseKeys

from . import nag, permissions, targets
from .settings import AmiStateSettings, validate

#: What amistate calls with the target role: the parameter's converge (read, write,
#: the history when another writer wrote in between) and the reconcile run's batched read.
TARGET_PARAMETER_ACTIONS = (
    "ssm:GetParameter",
    "ssm:GetParameterHistory",
    "ssm:GetParameters",
    "ssm:PutParameter",
)
#: Image Builder's role in a destination account, by the name it looks for.
DISTRIBUTION_ROLE_NAME = "EC2ImageBuilderDistributionCrossAccountRole"
DISTRIBUTION_POLICY = "Ec2ImageBuilderCrossAccountDistributionAccess"


class TargetAccountRole(Construct):
    """The role amistate assumes in ``account`` (one of ``settings``' target accounts).

    ``deployment`` is the build stack's name: its function roles are the only
    principals trusted, and its in-use keys the only tags allowed.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: AmiStateSettings,
        deployment: str,
        account: str,
        distribution_role: bool | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        validate(settings)
        build = settings.build_account
        self.presets = [p for p in settings.presets if account in p.target_accounts]
        if build is None or not self.presets:
            raise ValueError(f"no preset lists {account} in targetAccounts")
        self.trusted = targets.function_role_arns(build, deployment)
        self.role = iam.Role(
            self,
            "Role",
            role_name=settings.target_role_name,
            description=f"amistate ({deployment} in {build}): the runners' parameters and AMIs",
            assumed_by=iam.AccountPrincipal(build).with_conditions(
                {"ArnEquals": {"aws:PrincipalArn": self.trusted}}
            ),
        )
        self._grant_parameters(settings)
        self._grant_amis(settings, InUseKeys.of(deployment))
        self.distribution_role: iam.Role | None = None
        if settings.distribution_role if distribution_role is None else distribution_role:
            self.distribution_role = _distribution_role(self, build)

    def _regions(self, settings: AmiStateSettings) -> tuple[str, ...]:
        return (Stack.of(self).region, *settings.extra_regions)

    def _grant_parameters(self, settings: AmiStateSettings) -> None:
        """The parameters of the presets that list this account, each by its name: the JSON
        one and, when the preset names one, its plain AMI parameter (kept there too)."""
        stack = Stack.of(self)
        prefix = settings.parameter_prefix.strip("/")
        names = [f"{prefix}/{p.name}" for p in self.presets]
        names += [p.ami_parameter.lstrip("/") for p in self.presets if p.ami_parameter]
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="PresetParameters",
                actions=list(TARGET_PARAMETER_ACTIONS),
                resources=[
                    stack.format_arn(
                        service="ssm", region=region, resource="parameter", resource_name=name
                    )
                    for name in names
                    for region in self._regions(settings)
                ],
            )
        )
        if settings.secure_strings or settings.secure_string_key_arn is not None:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="DescribeSecureString",
                    actions=[permissions.DESCRIBE_PARAMETERS],
                    resources=["*"],
                )
            )

    def _grant_amis(self, settings: AmiStateSettings, keys: InUseKeys) -> None:
        """Which AMIs exist and carry the tags; the deployment's in-use tags on AMIs, no other."""
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="DescribeAmis", actions=[permissions.DESCRIBE_IMAGES], resources=["*"]
            )
        )
        reasons = [
            "ec2:DescribeImages has no resource-level permissions; the reconcile run reads "
            "whether this account's copies still exist and which carry the in-use tags, and "
            "Parameter Store requires it of whoever writes an aws:ec2:image parameter."
        ]
        if settings.secure_strings or settings.secure_string_key_arn is not None:
            reasons.append(
                "ssm:DescribeParameters has no resource-level permissions; granted only when "
                "the parameters are SecureStrings, to keep their key and tier on rewrite."
            )
        nag.acknowledge(self.role, "AwsSolutions-IAM5[Resource::*]", " ".join(reasons))
        permissions.grant_in_use_tags(self.role, keys, self._regions(settings))


def _distribution_role(scope: Construct, build_account: str) -> iam.Role:
    """Image Builder's role in a destination account, as AWS documents it."""
    role = iam.Role(
        scope,
        "DistributionRole",
        role_name=DISTRIBUTION_ROLE_NAME,
        description="Image Builder: copies the build account's AMIs into this account",
        assumed_by=iam.AccountPrincipal(build_account),
        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(DISTRIBUTION_POLICY)],
    )
    nag.acknowledge(
        role,
        f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{DISTRIBUTION_POLICY}]",
        "AWS documents this role name and this managed policy (CopyImage, DescribeImages, "
        "ModifyImageAttribute, CreateTags on AMIs) as what Image Builder assumes in a "
        "destination account to copy an AMI there; AWS keeps it current with the service.",
    )
    return role


class AmiStateTargetStack(Stack):
    """One runners' account: its :class:`TargetAccountRole` (deploy before the build stack)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: AmiStateSettings,
        deployment: str,
        account: str,
        env: Environment | None = None,
        distribution_role: bool | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=env or Environment(account=account),
            description=f"amistate: the role {deployment}'s functions assume in this account",
        )
        self.target = TargetAccountRole(
            self,
            "Target",
            settings=settings,
            deployment=deployment,
            account=account,
            distribution_role=distribution_role,
        )
        output = CfnOutput(
            self,
            "TargetRoleArn",
            value=self.target.role.role_arn,
            description="the role amistate assumes here (AMISTATE_TARGET_ROLE)",
        )
        output.override_logical_id("TargetRoleArn")


def target_stack_id(account: str) -> str:
    """``AmiStateTarget-<account>``: one stack per runners' account."""
    return f"AmiStateTarget-{account}"


__all__ = [
    "DISTRIBUTION_POLICY",
    "DISTRIBUTION_ROLE_NAME",
    "TARGET_PARAMETER_ACTIONS",
    "AmiStateTargetStack",
    "TargetAccountRole",
    "target_stack_id",
]
