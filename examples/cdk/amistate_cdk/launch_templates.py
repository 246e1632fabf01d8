"""A runner launch template that launches a preset's live AMI: ``resolve:ssm:<AmiParameter>``.

EC2 resolves the parameter at every launch, so a new good build, a rollback or
an unpin reaches the next instance without a new template version. EC2 checks
that the parameter exists when the template is created, and amistate writes it
with the preset's first good build: the template is opt-in
(``launchTemplate``), for a deploy after that build.
"""

from __future__ import annotations

from aws_cdk import CfnTag
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from .settings import PresetSpec


def runner_launch_template(
    scope: Construct, base: str, preset: PresetSpec, tags: dict[str, str]
) -> ec2.CfnLaunchTemplate:
    """The preset's runner template: its live AMI, IMDSv2 only, the preset's tags."""
    assert preset.ami_parameter is not None  # settings.validate: launchTemplate needs it
    cfn = ec2.CfnLaunchTemplate
    return cfn(
        scope,
        "RunnerTemplate",
        launch_template_name=f"{base}-runner",
        launch_template_data=cfn.LaunchTemplateDataProperty(
            image_id=f"resolve:ssm:{preset.ami_parameter}",
            metadata_options=cfn.MetadataOptionsProperty(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=2
            ),
            tag_specifications=[
                cfn.TagSpecificationProperty(
                    resource_type=kind, tags=[CfnTag(key=k, value=v) for k, v in tags.items()]
                )
                for kind in ("instance", "volume")
            ],
        ),
    )


__all__ = ["runner_launch_template"]
