"""The custom resource's use case: typed request in (:mod:`.request`), validated
properties (:mod:`.properties`), one preset's lifecycle (:mod:`.deployer`)."""

from __future__ import annotations

from amistate.usecases.deploy.deployer import DeployResult, PresetDeployer
from amistate.usecases.deploy.properties import (
    AMI_PARAMETER,
    CONFIG,
    PIPELINE_ARN,
    PRESET_NAME,
    ROLLOUT_POLICY,
    SOAK_TIME,
    START_BUILD,
    InvalidProperties,
    PresetProperties,
    parse_properties,
    physical_id,
    preset_of_physical_id,
)
from amistate.usecases.deploy.request import (
    DeployRequest,
    PreviousPreset,
    client_token,
    parse_request,
)

__all__ = [
    "AMI_PARAMETER",
    "CONFIG",
    "PIPELINE_ARN",
    "PRESET_NAME",
    "ROLLOUT_POLICY",
    "SOAK_TIME",
    "START_BUILD",
    "DeployRequest",
    "DeployResult",
    "InvalidProperties",
    "PresetDeployer",
    "PresetProperties",
    "PreviousPreset",
    "client_token",
    "parse_properties",
    "parse_request",
    "physical_id",
    "preset_of_physical_id",
]
