"""The stack's Outputs have stable, readable names (issue 23): logical IDs written in the code,
not hashed from construct paths, and export names other stacks can import."""

from __future__ import annotations

from dataclasses import replace

import pytest
from aws_cdk import App

from examples.cdk.amistate_cdk import AmiStateStack, read_settings
from examples.cdk.amistate_cdk.settings import SettingsError
from examples.cdk.amistate_cdk.stack import output_id
from tests.cdk.synth import EXAMPLE_SETTINGS, STACKS, Synthesized, fake_asset

FIXED = [
    "TableName",
    "Deployment",
    "InUseTagKey",
    "StateFunctionName",
    "ReconcileFunctionName",
    "DeployFunctionName",
    "DashboardUrl",
    "AlarmTopicArn",
]


def test_a_presets_output_id_is_its_name_in_camel_case() -> None:
    assert output_id("PipelineArn", "linux-x64") == "PipelineArnLinuxX64"
    assert output_id("ParameterName", "win.2022_core") == "ParameterNameWin2022Core"


@pytest.mark.parametrize("stack", STACKS)
def test_outputs_have_explicit_names_and_exports(synthesized: Synthesized, stack: str) -> None:
    outputs = synthesized.templates[stack]["Outputs"]
    presets = synthesized.settings[stack].presets
    per_preset = [
        output_id(kind, preset.name)
        for preset in presets
        for kind in ("PipelineArn", "ParameterName")
    ]
    per_preset += [output_id("AmiParameterName", p.name) for p in presets if p.ami_parameter]
    per_preset += [output_id("LaunchTemplateId", p.name) for p in presets if p.launch_template]
    assert sorted(outputs) == sorted(FIXED + per_preset)
    for name, output in outputs.items():
        assert output["Export"] == {"Name": f"{stack}-{name}"}


def test_presets_whose_output_names_would_collide_are_refused() -> None:
    example = read_settings(EXAMPLE_SETTINGS)
    first = example.presets[0]
    twin = replace(first, name=first.name.replace("-", "_"), ami_parameter=None)
    both = rf"{first.name}.*{twin.name}"
    with pytest.raises(SettingsError, match=both):
        AmiStateStack(
            App(),
            "Twins",
            settings=replace(example, presets=(first, twin)),
            asset_dir=fake_asset(),
        )
