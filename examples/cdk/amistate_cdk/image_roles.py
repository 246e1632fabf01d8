"""The roles Image Builder works with: the build instances' and the lifecycle policies'.

Both rest on the managed policies AWS documents for them (AWS keeps those
current with the service); each use is acknowledged to cdk-nag with its reason.
"""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from constructs import Construct

from . import nag

#: What AWS documents as the build instance's minimum for Image Builder.
BUILD_INSTANCE_POLICIES = ("AmazonSSMManagedInstanceCore", "EC2InstanceProfileForImageBuilder")
#: Image Builder's service-role policy for lifecycle actions (AWS managed).
LIFECYCLE_MANAGED_POLICY = "service-role/EC2ImageBuilderLifecycleExecutionPolicy"


def build_instance_role(scope: Construct) -> iam.Role:
    """The role of Image Builder's build and test instances."""
    role = iam.Role(
        scope,
        "BuildInstanceRole",
        assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
        description="amistate: Image Builder build and test instances",
        managed_policies=[
            iam.ManagedPolicy.from_aws_managed_policy_name(name) for name in BUILD_INSTANCE_POLICIES
        ],
    )
    for name in BUILD_INSTANCE_POLICIES:
        nag.acknowledge(
            role,
            f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{name}]",
            "AWS documents these two managed policies as the build instance's minimum "
            "for Image Builder (SSM agent commands, component downloads, logs); AWS "
            "keeps them current with the service.",
        )
    return role


def lifecycle_role(scope: Construct) -> iam.Role:
    """The role Image Builder assumes to run the presets' lifecycle policies."""
    role = iam.Role(
        scope,
        "LifecycleRole",
        assumed_by=iam.ServicePrincipal("imagebuilder.amazonaws.com"),
        description="amistate: Image Builder lifecycle policies of the preset images",
        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(LIFECYCLE_MANAGED_POLICY)],
    )
    nag.acknowledge(
        role,
        f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{LIFECYCLE_MANAGED_POLICY}]",
        "AWS documents EC2ImageBuilderLifecycleExecutionPolicy as the execution role "
        "policy of lifecycle policies (deregister AMIs, delete snapshots and images, "
        "read tags); AWS keeps it current with the service.",
    )
    return role


__all__ = [
    "BUILD_INSTANCE_POLICIES",
    "LIFECYCLE_MANAGED_POLICY",
    "build_instance_role",
    "lifecycle_role",
]
