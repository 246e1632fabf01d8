"""``PresetPipeline``: one preset's Image Builder resources and its custom resource.

Per preset: an image recipe, infrastructure configuration, distribution
configuration and a scheduled pipeline; a lifecycle policy that deletes old
images but never an AMI this deployment tags in use; and the custom resource
the deploy function answers (:mod:`.deployer`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aws_cdk import Aws, CustomResource, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_imagebuilder as imagebuilder
from constructs import Construct

from amistate.core.in_use import PROTECTED, InUseKeys

from .launch_templates import runner_launch_template
from .settings import PresetSpec, pipeline_schedule, resource_slug

if TYPE_CHECKING:
    from .construct import AmiStatePipeline


def _expand(text: str) -> str:
    """``{region}`` and ``{partition}`` in a recipe's ARNs, replaced with the stack's."""
    return text.replace("{region}", Aws.REGION).replace("{partition}", Aws.PARTITION)


def _rollout(preset: PresetSpec) -> dict[str, str]:
    """``RolloutPolicy`` and ``SoakTime`` when set (amistate's default: immediate)."""
    given = {"RolloutPolicy": preset.rollout_policy, "SoakTime": preset.soak_time}
    return {key: value for key, value in given.items() if value is not None}


def _targets(preset: PresetSpec) -> dict[str, list[str]]:
    """``TargetAccounts`` when the preset lists runner accounts (a list: the property takes one)."""
    return {"TargetAccounts": list(preset.target_accounts)} if preset.target_accounts else {}


def _copies(preset: PresetSpec) -> dict[str, list[str]]:
    """``TargetAccountIds`` when the preset lists runner accounts: Image Builder copies the
    AMI to each (their ``EC2ImageBuilderDistributionCrossAccountRole``: :mod:`.target_role`)."""
    return {"TargetAccountIds": list(preset.target_accounts)} if preset.target_accounts else {}


class PresetPipeline(Construct):
    """One preset: recipe, infrastructure, distribution, scheduled pipeline, custom resource."""

    def __init__(self, owner: AmiStatePipeline, construct_id: str, preset: PresetSpec) -> None:
        super().__init__(owner, construct_id)
        self.spec = preset
        settings = owner.settings
        stack = Stack.of(self)
        base = f"{settings.name_prefix}-{resource_slug(preset.name)}"
        tags = {"amistate:preset": preset.name}
        self.recipe = self._recipe(base, preset, tags)
        self.infrastructure = self._infrastructure(owner, base, preset, tags)
        self.distribution = self._distribution(owner, base, preset, tags)
        self.pipeline = self._pipeline(owner, base, preset, tags)
        #: Every build of this preset: image build versions of its recipes, whatever
        #: their fingerprint (``image/<base>-<hash8>/<version>/<build>``).
        self.images_arn = stack.format_arn(service="imagebuilder", resource=f"image/{base}-*")
        self.parameter_name = f"{settings.parameter_prefix.rstrip('/')}/{preset.name}"
        #: The plain AMI parameter amistate keeps for launch templates, if any.
        self.ami_parameter = preset.ami_parameter
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
                # The plain AMI parameter, for launch templates (resolve:ssm:<name>).
                **({"AmiParameter": preset.ami_parameter} if preset.ami_parameter else {}),
                **_rollout(preset),
                # The runners' accounts whose parameter amistate keeps too (.targets).
                **_targets(preset),
            },
        )
        # The first build must not finish before anyone listens for its event.
        self.resource.node.add_dependency(owner.rule)
        self.resource.node.add_dependency(owner.state_function)
        self.launch_template: ec2.CfnLaunchTemplate | None = None
        if preset.launch_template:
            self.launch_template = runner_launch_template(self, base, preset, tags)
            self.launch_template.node.add_dependency(self.resource)

    def _distribution(
        self, owner: AmiStatePipeline, base: str, preset: PresetSpec, tags: dict[str, str]
    ) -> imagebuilder.CfnDistributionConfiguration:
        """The AMI in the stack's region and each extra region, copied to each runner account."""
        regions = (Stack.of(self).region, *owner.settings.extra_regions)
        return imagebuilder.CfnDistributionConfiguration(
            self,
            "Distribution",
            name=base,
            distributions=[
                imagebuilder.CfnDistributionConfiguration.DistributionProperty(
                    region=region,
                    ami_distribution_configuration={
                        "Name": f"{base}-{{{{ imagebuilder:buildDate }}}}",
                        "AmiTags": tags,
                        **_copies(preset),
                    },
                )
                for region in regions
            ],
            tags=tags,
        )

    def _recipe(
        self, base: str, preset: PresetSpec, tags: dict[str, str]
    ) -> imagebuilder.CfnImageRecipe:
        spec = preset.recipe
        block_devices = None
        if spec.root_volume_gib is not None:
            block_devices = [
                imagebuilder.CfnImageRecipe.InstanceBlockDeviceMappingProperty(
                    device_name="/dev/xvda",
                    ebs=imagebuilder.CfnImageRecipe.EbsInstanceBlockDeviceSpecificationProperty(
                        volume_size=spec.root_volume_gib,
                        volume_type="gp3",
                        encrypted=True,
                        delete_on_termination=True,
                    ),
                )
            ]
        return imagebuilder.CfnImageRecipe(
            self,
            "Recipe",
            # Recipes are immutable: a changed recipe gets a new name (the
            # fingerprint), so CloudFormation creates it before dropping the old.
            name=f"{base}-{spec.fingerprint()}",
            version=spec.version,
            parent_image=_expand(spec.parent_image),
            components=[
                imagebuilder.CfnImageRecipe.ComponentConfigurationProperty(
                    component_arn=_expand(arn)
                )
                for arn in spec.components
            ],
            block_device_mappings=block_devices,
            tags=tags,
        )

    def _infrastructure(
        self, owner: AmiStatePipeline, base: str, preset: PresetSpec, tags: dict[str, str]
    ) -> imagebuilder.CfnInfrastructureConfiguration:
        spec = preset.recipe
        cfn = imagebuilder.CfnInfrastructureConfiguration
        return cfn(
            self,
            "Infrastructure",
            name=base,
            instance_profile_name=owner.instance_profile.instance_profile_name,
            instance_types=list(spec.build_instance_types),
            subnet_id=spec.subnet_id,
            security_group_ids=list(spec.security_group_ids) or None,
            terminate_instance_on_failure=True,
            sns_topic_arn=owner.notifications.topic.topic_arn if owner.notifications else None,
            instance_metadata_options=cfn.InstanceMetadataOptionsProperty(
                http_tokens="required", http_put_response_hop_limit=2
            ),
            tags=tags,
        )

    def _pipeline(
        self, owner: AmiStatePipeline, base: str, preset: PresetSpec, tags: dict[str, str]
    ) -> imagebuilder.CfnImagePipeline:
        settings = owner.settings
        return imagebuilder.CfnImagePipeline(
            self,
            "Pipeline",
            name=base,
            description=f"amistate preset {preset.name}",
            image_recipe_arn=self.recipe.attr_arn,
            infrastructure_configuration_arn=self.infrastructure.attr_arn,
            distribution_configuration_arn=self.distribution.attr_arn,
            schedule=imagebuilder.CfnImagePipeline.ScheduleProperty(
                schedule_expression=pipeline_schedule(settings, preset),
                pipeline_execution_start_condition=settings.start_condition,
                timezone=settings.schedule_timezone,
            ),
            enhanced_image_metadata_enabled=True,
            status="ENABLED",
            tags=tags,
        )

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
    its presets needs (:mod:`amistate.core.in_use`), whatever presets share a pipeline
    and whatever other deployments tag in the account: one entry spares them all.
    """
    return {keys.protect: PROTECTED}


__all__ = ["PresetPipeline", "in_use_exclusion"]
