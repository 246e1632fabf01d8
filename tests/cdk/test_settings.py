"""Preset settings are validated before any construct exists, naming the bad field."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from examples.cdk.amistate_cdk.loading import load_settings
from examples.cdk.amistate_cdk.settings import LifecycleSpec, SettingsError
from tests.cdk.synth import EXAMPLE_SETTINGS


def example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(EXAMPLE_SETTINGS).read_text())
    return data


def test_the_shipped_example_loads() -> None:
    settings = load_settings(example())
    assert [p.name for p in settings.presets] == ["linux-x64", "linux-arm64"]
    assert settings.start_condition == "EXPRESSION_MATCH_ONLY"
    assert settings.presets[0].config() == {
        "instanceTypes": ["c7i.large", "c6i.large", "m7i.large"],
        "timeout": 3600,
        "labels": ["self-hosted", "linux", "x64"],
    }
    first, second = settings.presets
    assert (first.ami_parameter, first.launch_template) == ("/spot-runner/amis/linux-x64", False)
    assert (second.ami_parameter, second.launch_template) == (None, False)


def test_the_defaults_of_the_monitoring_and_lifecycle_settings() -> None:
    settings = load_settings(example())
    assert settings.reconcile_schedule == "rate(15 minutes)"
    assert settings.ami_max_age_days == 14
    assert settings.alarm_email is None
    assert settings.lifecycle == LifecycleSpec(enabled=True, keep_images=10, max_age_days=None)
    data = example()
    data["imageLifecycle"] = {"enabled": False, "keepImages": 3, "maxAgeDays": 30}
    assert load_settings(data).lifecycle == LifecycleSpec(False, 3, 30)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[last] = value

    return change


BUILD, TARGET = "111122223333", "444455556666"


def _targets(accounts: object, **top: object) -> Callable[[dict[str, Any]], None]:
    """The first preset's ``targetAccounts`` (the build account ``BUILD`` unless ``top`` says)."""

    def change(data: dict[str, Any]) -> None:
        data["presets"][0]["targetAccounts"] = accounts
        data.update({"buildAccount": BUILD, **top})

    return change


def test_target_accounts_load_per_preset_with_the_build_account_and_role_name() -> None:
    data = example()
    _targets([TARGET, "777788889999"], targetRoleName="runners-amistate")(data)
    settings = load_settings(data)
    assert settings.presets[0].target_accounts == (TARGET, "777788889999")
    assert settings.presets[1].target_accounts == ()
    assert settings.target_accounts() == (TARGET, "777788889999")
    assert (settings.build_account, settings.target_role_name) == (BUILD, "runners-amistate")
    assert settings.distribution_role is True
    shipped = load_settings(example())
    assert (shipped.target_accounts(), shipped.build_account) == ((), None)
    assert shipped.target_role_name == "amistate-target"  # AMISTATE_TARGET_ROLE's default


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("presets", []), "presets: at least one preset"),
        (_set("presets.0.name", "../etc"), "presets[0].name"),
        (_set("presets.1.name", "LINUX-X64"), "same Image Builder name"),
        (_set("presets.0.timeout", "3600"), "presets[0].timeout: expected int"),
        (_set("presets.0.timeout", True), "presets[0].timeout: expected int"),
        (_set("presets.0.instanceTypes", []), "instanceTypes: at least one"),
        (_set("presets.0.extraConfig", {"amiId": "ami-1"}), "set by amistate"),
        (_set("presets.0.recipe.parentImage", "al2023"), "parentImage"),
        (_set("presets.0.recipe.subnetId", "subnet-1"), "securityGroupIds: required"),
        (_set("presets.0.recipe.colour", "blue"), "unknown field(s) colour"),
        (_set("schedule", "every sunday"), "schedule: expected cron"),
        (_set("startCondition", "WHENEVER"), "startCondition"),
        (_set("parameterPrefix", "spot-runner"), "parameterPrefix"),
        (_set("secureStringKeyArn", "alias/aws/ssm"), "secureStringKeyArn"),
        (_set("extraRegions", ["Europe"]), "extraRegions"),
        (_set("tableName", "x"), "tableName"),
        (_set("spreadSchedules", "yes"), "spreadSchedules: expected bool"),
        (_set("reconcileSchedule", "every 15 minutes"), "reconcileSchedule: expected cron"),
        (_set("amiMaxAgeDays", 0), "amiMaxAgeDays: expected a number of days"),
        (_set("amiMaxAgeDays", "14"), "amiMaxAgeDays: expected int"),
        (_set("alarmEmail", "oncall"), "alarmEmail"),
        (_set("historyLimit", 0), "historyLimit: expected a whole number from 1 to 100"),
        (_set("historyLimit", 500), "historyLimit: expected a whole number from 1 to 100"),
        (_set("imageLifecycle", {"keepImages": 0}), "imageLifecycle.keepImages"),
        (_set("imageLifecycle", {"maxAgeDays": 5000}), "imageLifecycle.maxAgeDays"),
        (_set("imageLifecycle", {"keep": 3}), "unknown field(s) keep"),
        (_set("presets.0.name", "p" * 100), "too long for Image Builder names"),
        (_set("presets.0.amiParameter", "amis/x"), "presets[linux-x64].amiParameter: 'amis/x'"),
        (_set("presets.0.amiParameter", "/aws/x"), "presets[linux-x64].amiParameter: '/aws/x'"),
        (_set("presets.0.amiParameter", "/spot-runner/configs/x"), "is under /spot-runner/con"),
        (
            _set("presets.1.amiParameter", "/spot-runner/amis/linux-x64"),
            "presets[linux-arm64].amiParameter: '/spot-runner/amis/linux-x64' is already",
        ),
        (_set("presets.1.launchTemplate", True), "presets[linux-arm64].launchTemplate: needs ami"),
        (_set("presets.0.launchTemplate", "yes"), "presets[0].launchTemplate: expected bool"),
        (_targets(["21098765432"]), "presets[0].targetAccounts: '21098765432' is not a 12-digit"),
        (_targets([210987654321]), "presets[0].targetAccounts: expected a list of non-empty str"),
        (_targets("210987654321"), "presets[0].targetAccounts: expected list"),
        (_targets([BUILD]), f"presets[0].targetAccounts: {BUILD} is the build account"),
        (_set("presets.1.targetAccounts", [TARGET]), "buildAccount: required with presets[1].t"),
        (_targets([TARGET], buildAccount="1234"), "buildAccount: '1234' is not a 12-digit"),
        (_targets([TARGET], targetRoleName="a/b"), "targetRoleName: 'a/b' is not an IAM role"),
        (_targets([TARGET], distributionRole="no"), "distributionRole: expected bool"),
    ],
)
def test_invalid_settings_are_refused_naming_the_field(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    data = copy.deepcopy(example())
    change(data)
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(data)
