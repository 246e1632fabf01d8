"""Runners in other accounts (issue 22): the target role trusts amistate's functions only,
may touch only the listed presets' parameters and the deployment's in-use tags, and the build
stack reaches exactly the listed accounts. A settings file without ``targetAccounts`` (the
shipped one: the ``Example`` stack) gets none of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App

from amistate.core.in_use import LEGACY_KEY, InUseKeys
from examples.cdk.amistate_cdk import AmiStateTargetStack, build_app, read_settings
from examples.cdk.amistate_cdk.functions import DEPLOY_HANDLER, RECONCILE_HANDLER, STATE_HANDLER
from examples.cdk.amistate_cdk.nag import render_intrinsic as render
from examples.cdk.amistate_cdk.targets import function_role_name
from tests.cdk.synth import (
    ACCOUNT,
    EXAMPLE_SETTINGS,
    EXTRA_REGION,
    REGION,
    TARGET_ROLE_NAME,
    TARGET_STACKS,
    Synthesized,
    fake_asset,
    resources_of_type,
)

P = "<AWS::Partition>"
HANDLERS = (STATE_HANDLER, DEPLOY_HANDLER, RECONCILE_HANDLER)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _function_roles(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """handler -> the role resource of the function with that handler."""
    roles = resources_of_type(template, "AWS::IAM::Role")
    return {
        f["Properties"]["Handler"]: roles[f["Properties"]["Role"]["Fn::GetAtt"][0]]
        for f in resources_of_type(template, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] in HANDLERS
    }


def _role(template: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, role),) = [
        (k, r)
        for k, r in resources_of_type(template, "AWS::IAM::Role").items()
        if r["Properties"].get("RoleName") == name
    ]
    return logical_id, role


def _policy_statements(template: dict[str, Any], role_id: str) -> dict[str, dict[str, Any]]:
    found = {}
    for policy in resources_of_type(template, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                found[statement["Sid"]] = statement
    return found


@pytest.mark.parametrize("stack", TARGET_STACKS)
def test_the_target_role_trusts_nothing_but_the_build_stacks_function_roles(
    synthesized: Synthesized, stack: str
) -> None:
    full = synthesized.templates["Full"]
    names = sorted(r["Properties"]["RoleName"] for r in _function_roles(full).values())
    assert len(names) == 3  # the state, deploy and reconcile functions: each writes targets
    _, role = _role(synthesized.templates[stack], TARGET_ROLE_NAME)
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Effect"] == "Allow" and trust["Action"] == "sts:AssumeRole"
    # The build account, narrowed to its three function roles by ARN: deployable before
    # the build stack exists (a role principal must exist when the policy is saved).
    assert render(trust["Principal"]["AWS"]) == f"arn:{P}:iam::{ACCOUNT}:root"
    assert list(trust["Condition"]) == ["ArnEquals"]
    trusted = trust["Condition"]["ArnEquals"]
    assert list(trusted) == ["aws:PrincipalArn"]
    assert sorted(render(a) for a in trusted["aws:PrincipalArn"]) == sorted(
        f"arn:{P}:iam::{ACCOUNT}:role/{name}" for name in names
    )
    # No other role of the build stack has a name a target role could trust.
    named = {
        r["Properties"]["RoleName"]
        for r in resources_of_type(full, "AWS::IAM::Role").values()
        if "RoleName" in r["Properties"]
    }
    assert sorted(named) == names


@pytest.mark.parametrize("stack", TARGET_STACKS)
def test_the_target_role_may_touch_only_its_presets_parameters_and_the_in_use_tags(
    synthesized: Synthesized, stack: str
) -> None:
    account, _ = TARGET_STACKS[stack]
    template = synthesized.templates[stack]
    settings = synthesized.settings["Full"]
    role_id, _ = _role(template, TARGET_ROLE_NAME)
    statements = _policy_statements(template, role_id)
    assert sorted(statements) == sorted(
        [
            "PresetParameters",
            "DescribeAmis",
            "DescribeSecureString",  # the Full stack's parameters are SecureStrings
            "SetOwnInUseTags",
            "RemoveOwnInUseTags",
        ]
    )
    parameters = statements["PresetParameters"]
    assert sorted(parameters["Action"]) == [
        "ssm:GetParameter",
        "ssm:GetParameterHistory",
        "ssm:GetParameters",
        "ssm:PutParameter",
    ]
    listing = [p for p in settings.presets if account in p.target_accounts]
    names = [f"/spot-runner/configs/{p.name}" for p in listing]
    # The plain AMI parameter is kept in target accounts too (by its exact name).
    names += [p.ami_parameter for p in listing if p.ami_parameter]
    expected = {
        "Target": [
            "/spot-runner/configs/linux-x64",
            "/spot-runner/configs/linux-arm64",
            "/spot-runner/amis/linux-x64",
        ],
        "TargetOther": ["/spot-runner/configs/linux-arm64"],
    }
    assert names == expected[stack]
    assert sorted(render(r) for r in parameters["Resource"]) == sorted(
        f"arn:{P}:ssm:{region}:{account}:parameter{name}"
        for name in names
        for region in (REGION, EXTRA_REGION)
    )
    for sid, action in (("DescribeAmis", "ec2:DescribeImages"), ("DescribeSecureString", None)):
        assert statements[sid]["Resource"] == "*"
        assert action is None or statements[sid]["Action"] == action
    keys = InUseKeys.of("Full")
    for sid, action, allowed in (
        ("SetOwnInUseTags", "ec2:CreateTags", [keys.protect, keys.presets]),
        ("RemoveOwnInUseTags", "ec2:DeleteTags", [keys.protect, keys.presets, LEGACY_KEY]),
    ):
        tags = statements[sid]
        assert tags["Action"] == action
        assert [render(r) for r in tags["Resource"]] == [
            f"arn:{P}:ec2:{region}::image/*" for region in (REGION, EXTRA_REGION)
        ]
        assert tags["Condition"] == {
            "ForAllValues:StringEquals": {"aws:TagKeys": allowed},
            "Null": {"aws:TagKeys": "false"},
        }


def test_image_builders_distribution_role_is_there_unless_left_out(
    synthesized: Synthesized,
) -> None:
    name = "EC2ImageBuilderDistributionCrossAccountRole"
    _, role = _role(synthesized.templates["Target"], name)
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert render(trust["Principal"]["AWS"]) == f"arn:{P}:iam::{ACCOUNT}:root"
    assert [render(p) for p in role["Properties"]["ManagedPolicyArns"]] == [
        f"arn:{P}:iam::aws:policy/Ec2ImageBuilderCrossAccountDistributionAccess"
    ]
    assert TARGET_STACKS["TargetOther"][1] is False
    roles = resources_of_type(synthesized.templates["TargetOther"], "AWS::IAM::Role")
    assert [r["Properties"]["RoleName"] for r in roles.values()] == [TARGET_ROLE_NAME]


def test_the_build_functions_assume_the_role_in_exactly_the_listed_accounts(
    synthesized: Synthesized,
) -> None:
    template = synthesized.templates["Full"]
    settings = synthesized.settings["Full"]
    accounts = sorted({a for p in settings.presets for a in p.target_accounts})
    assert accounts == sorted(account for account, _ in TARGET_STACKS.values())
    expected = [f"arn:{P}:iam::{a}:role/{TARGET_ROLE_NAME}" for a in accounts]
    roles = resources_of_type(template, "AWS::IAM::Role")
    by_role = {
        k: [
            s
            for p in resources_of_type(template, "AWS::IAM::Policy").values()
            if {"Ref": k} in p["Properties"]["Roles"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]
            if "sts:AssumeRole" in _listed(s["Action"])
        ]
        for k in roles
    }
    function_roles = {
        f["Properties"]["Role"]["Fn::GetAtt"][0]
        for f in resources_of_type(template, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] in HANDLERS
    }
    for logical_id, found in by_role.items():
        if logical_id not in function_roles:
            assert found == [], logical_id  # the Provider's, the build instances', ...
            continue
        (assume,) = found
        assert assume["Action"] == "sts:AssumeRole"
        assert sorted(render(r) for r in assume["Resource"]) == sorted(expected)
    for function in resources_of_type(template, "AWS::Lambda::Function").values():
        if function["Properties"]["Handler"] in HANDLERS:
            variables = function["Properties"]["Environment"]["Variables"]
            assert variables["AMISTATE_TARGET_ROLE"] == TARGET_ROLE_NAME


def test_the_pipelines_copy_to_and_the_presets_list_their_accounts(
    synthesized: Synthesized,
) -> None:
    template = synthesized.templates["Full"]
    presets = {p.name: p for p in synthesized.settings["Full"].presets}
    resources = resources_of_type(template, "Custom::AmiStatePreset").values()
    listed = {r["Properties"]["PresetName"]: r["Properties"]["TargetAccounts"] for r in resources}
    assert listed == {name: list(p.target_accounts) for name, p in presets.items()}
    for distribution in resources_of_type(
        template, "AWS::ImageBuilder::DistributionConfiguration"
    ).values():
        (preset,) = [
            p for n, p in presets.items() if distribution["Properties"]["Name"].endswith(n)
        ]
        each = distribution["Properties"]["Distributions"]
        assert sorted(d["Region"] for d in each) == sorted([REGION, EXTRA_REGION])
        for region in each:
            copies = region["AmiDistributionConfiguration"]["TargetAccountIds"]
            assert copies == list(preset.target_accounts)


def test_a_settings_file_without_target_accounts_gets_none_of_it(
    synthesized: Synthesized,
) -> None:
    """The Example stack (the shipped presets.json) as before: roles named by CloudFormation,
    no AssumeRole, no AMISTATE_TARGET_ROLE, no copies, no TargetAccounts."""
    template = synthesized.templates["Example"]
    text = json.dumps(template)
    for absent in ("RoleName", "AMISTATE_TARGET_ROLE", "TargetAccount"):
        assert absent not in text
    policies = json.dumps(resources_of_type(template, "AWS::IAM::Policy"))
    assert "sts:" not in policies
    assert "sts:AssumeRole" in json.dumps(
        resources_of_type(synthesized.templates["Full"], "AWS::IAM::Policy")
    )
    assert "RoleName" in json.dumps(synthesized.templates["Full"])


def test_build_app_adds_one_target_stack_per_account_and_pins_the_build_account(
    tmp_path: Path,
) -> None:
    """Construction only (no synthesis): the app's stacks and their accounts."""
    data: dict[str, Any] = json.loads(EXAMPLE_SETTINGS.read_text())
    data["buildAccount"] = ACCOUNT
    data["presets"][0]["targetAccounts"] = ["444455556666", "777788889999"]
    path = tmp_path / "presets.json"
    path.write_text(json.dumps(data))
    app = App(outdir=str(tmp_path / "out"))
    build = build_app(app, read_settings(path), fake_asset())
    stacks = {c.node.id: c for c in app.node.children}
    assert sorted(stacks) == [
        "AmiState",
        "AmiStateTarget-444455556666",
        "AmiStateTarget-777788889999",
    ]
    assert build.account == ACCOUNT
    for account in ("444455556666", "777788889999"):
        target = stacks[f"AmiStateTarget-{account}"]
        assert isinstance(target, AmiStateTargetStack)
        assert target.account == account
        assert [render(target.resolve(arn)) for arn in target.target.trusted] == [
            f"arn:{P}:iam::{ACCOUNT}:role/AmiState-{f}"
            for f in ("StateFunction", "DeployFunction", "ReconcileFunction")
        ]


def test_a_long_stack_name_still_names_each_function_role_within_iams_limit() -> None:
    long = "A" + "b" * 120
    names = {function_role_name(long, f) for f in ("StateFunction", "ReconcileFunction")}
    assert len(names) == 2 and all(len(n) <= 64 for n in names)
    assert function_role_name(long, "StateFunction") == function_role_name(long, "StateFunction")
    assert function_role_name(long + "c", "StateFunction") != function_role_name(
        long, "StateFunction"
    )
    assert function_role_name("AmiState", "StateFunction") == "AmiState-StateFunction"
