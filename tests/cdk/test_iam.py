"""Every IAM statement in the synthesized stacks is least privilege.

Each statement of every ``AWS::IAM::Policy`` (and any inline role policy) is
rendered to plain strings (``<Logical.Arn>`` for a GetAtt, ``<AWS::Partition>``
for a pseudo parameter) and checked against :data:`ALLOWED`: per action, the
only resources it may name. A ``"*"`` resource is allowed only for the actions
in :data:`NO_RESOURCE_LEVEL`, each with the reason. Action wildcards are never
allowed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from amistate.core.in_use import LEGACY_KEY, InUseKeys
from examples.cdk.amistate_cdk.functions import DEPLOY_HANDLER, RECONCILE_HANDLER, STATE_HANDLER
from examples.cdk.amistate_cdk.nag import render_intrinsic as render
from examples.cdk.amistate_cdk.permissions import (
    DEPLOY_TABLE_ACTIONS,
    KMS_ACTIONS,
    RECONCILE_TABLE_ACTIONS,
    STATE_TABLE_ACTIONS,
    TAG_ACTIONS,
)
from tests.cdk.synth import (
    ACCOUNT,
    EXISTING_TABLE,
    EXTRA_REGION,
    KEY_ARN,
    OTHER_TARGET_ACCOUNT,
    REGION,
    STACKS,
    TARGET_ACCOUNT,
    TARGET_ROLE_NAME,
    Synthesized,
    resources_of_type,
)

#: Actions that have no resource-level permissions, so "*" is their narrowest resource.
NO_RESOURCE_LEVEL = {
    # X-Ray's trace APIs are account-wide; added by the CDK only when tracing is on.
    "xray:PutTraceSegments": "X-Ray trace segments have no resource ARN",
    "xray:PutTelemetryRecords": "X-Ray telemetry has no resource ARN",
    # Only with a SecureString key: read the parameter's KeyId and Tier to keep them.
    "ssm:DescribeParameters": "DescribeParameters is a list call without resource-level support",
    # The reconciler: does the AMI in SSM still exist, which AMIs carry the in-use tag; every
    # writer of an AMI parameter (Parameter Store requires it for DataType aws:ec2:image).
    "ec2:DescribeImages": "DescribeImages has no resource-level permissions",
}

PARTITION = "<AWS::Partition>"
PARAMETERS = {
    f"arn:{PARTITION}:ssm:{region}:{ACCOUNT}:parameter/spot-runner/configs/*"
    for region in (REGION, EXTRA_REGION)
}
#: The example's one AMI parameter (presets.json's amiParameter), by its exact name.
AMI_PARAMETERS = {
    f"arn:{PARTITION}:ssm:{region}:{ACCOUNT}:parameter/spot-runner/amis/linux-x64"
    for region in (REGION, EXTRA_REGION)
}


#: The builds of one preset: image build versions of its recipes ``<prefix>-<preset>-<hash8>``.
PRESET_IMAGES = (
    re.escape(f"arn:{PARTITION}:imagebuilder:{REGION}:{ACCOUNT}:image/")
    + r"amistate(-full)?-linux-(x64|arm64)-\*"
)


def allowed_resources(action: str) -> list[str]:
    """Regexes of the resources ``action`` may have (after rendering)."""
    table = (
        rf"arn:{re.escape(PARTITION)}:dynamodb:{REGION}:{ACCOUNT}:table/{EXISTING_TABLE}"
        r"|<AmiStateTable\w+\.Arn>"
    )
    own_log_group = r"<AmiState\w+Logs\w+\.Arn>"
    if action in NO_RESOURCE_LEVEL:
        return [r"\*"]
    if action.startswith("dynamodb:"):
        return [table]
    if action in ("logs:CreateLogStream", "logs:PutLogEvents"):
        return [own_log_group]
    if action in (
        "ssm:GetParameter",
        "ssm:GetParameterHistory",
        "ssm:GetParameters",
        "ssm:PutParameter",
    ):
        return [re.escape(p) for p in PARAMETERS | AMI_PARAMETERS]
    if action == "imagebuilder:GetImage":
        return [
            re.escape(f"arn:{PARTITION}:imagebuilder:{REGION}:{ACCOUNT}:image/*"),
            PRESET_IMAGES,
        ]
    if action == "imagebuilder:ListWorkflowExecutions":
        return [PRESET_IMAGES]
    if action in (
        "imagebuilder:StartImagePipelineExecution",
        "imagebuilder:ListImagePipelineImages",
    ):
        return [r"<AmiStatePreset[\w]+Pipeline\w+\.Arn>"]
    if action in TAG_ACTIONS:
        return [
            re.escape(f"arn:{PARTITION}:ec2:{region}::image/*") for region in (REGION, EXTRA_REGION)
        ]
    if action in KMS_ACTIONS:
        return [re.escape(KEY_ARN)]
    if action.startswith("sqs:"):
        return [r"<AmiStateStateEvents\w+\.Arn>"]
    if action == "sts:AssumeRole":
        # The Full stack's target accounts' role, by its exact ARN (tests/cdk/test_targets.py).
        return [
            re.escape(f"arn:{PARTITION}:iam::{account}:role/{TARGET_ROLE_NAME}")
            for account in (TARGET_ACCOUNT, OTHER_TARGET_ACCOUNT)
        ]
    if action in ("lambda:InvokeFunction", "lambda:GetFunction"):
        # The Provider framework calls the deploy function (any version: ":*").
        return [r"<AmiStateDeployFunction\w+\.Arn>", r"<AmiStateDeployFunction\w+\.Arn>:\*"]
    return []


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, policy in resources_of_type(template, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            yield logical_id, statement
    for logical_id, role in resources_of_type(template, "AWS::IAM::Role").items():
        for inline in role["Properties"].get("Policies", []):
            for statement in inline["PolicyDocument"]["Statement"]:
                yield logical_id, statement


def role_statements(template: dict[str, Any], handler: str) -> list[dict[str, Any]]:
    """The statements of the role of the function with ``handler``."""
    functions = resources_of_type(template, "AWS::Lambda::Function")
    (role,) = [
        f["Properties"]["Role"]["Fn::GetAtt"][0]
        for f in functions.values()
        if f["Properties"]["Handler"] == handler
    ]
    found = []
    for policy in resources_of_type(template, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_statement_names_only_the_resources_its_action_needs(
    synthesized: Synthesized, stack: str
) -> None:
    template = synthesized.templates[stack]
    checked = 0
    for logical_id, statement in statements(template):
        assert statement["Effect"] == "Allow", (logical_id, statement)
        assert "NotAction" not in statement and "NotResource" not in statement
        resources = [render(r) for r in _listed(statement["Resource"])]
        for action in _listed(statement["Action"]):
            assert "*" not in action, f"{logical_id}: action wildcard {action}"
            patterns = allowed_resources(action)
            assert patterns, f"{logical_id}: unexpected action {action}"
            for resource in resources:
                assert any(re.fullmatch(p, resource) for p in patterns), (
                    f"{logical_id}: {action} on {resource} (allowed: {patterns})"
                )
                if resource == "*":
                    assert action in NO_RESOURCE_LEVEL, f"{logical_id}: {action} on *"
            checked += 1
    assert checked > 10


#: Every action of each function's role, written out (not taken from the construct's
#: constants, so a grant added to or dropped from the construct fails here), as the
#: code calls them (docs/adapters.md): the deploy function pushes the Config to SSM
#: (docs/configuration.md "Behaviour"); the reconciler reads histories on the
#: records (one Scan) and writes with UpdateItem only.
LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
EXPECTED_ACTIONS = {
    STATE_HANDLER: LOGS
    | {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "ssm:GetParameter",
        "ssm:GetParameterHistory",
        "ssm:PutParameter",
        "imagebuilder:GetImage",
        # The SQS event source reads its queue (written by the CDK).
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
    },
    DEPLOY_HANDLER: LOGS
    | {
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "ssm:GetParameter",
        "ssm:GetParameterHistory",
        "ssm:PutParameter",
        "imagebuilder:StartImagePipelineExecution",
    },
    RECONCILE_HANDLER: LOGS
    | {
        "dynamodb:BatchGetItem",
        "dynamodb:GetItem",
        "dynamodb:Scan",
        "dynamodb:UpdateItem",
        "ssm:GetParameter",
        "ssm:GetParameterHistory",
        "ssm:GetParameters",
        "ssm:PutParameter",
        "imagebuilder:ListImagePipelineImages",
        "imagebuilder:ListWorkflowExecutions",
        "imagebuilder:GetImage",
        "ec2:DescribeImages",
        "ec2:CreateTags",
        "ec2:DeleteTags",
    },
}
#: What every function that writes SSM parameters gets with a SecureString key.
SECURE_STRING_ACTIONS = {
    "ssm:DescribeParameters",
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
}
TRACING_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


def role_actions(template: dict[str, Any], handler: str) -> list[str]:
    """Every action granted to the role of the function with ``handler`` (repeats kept)."""
    return [a for s in role_statements(template, handler) for a in _listed(s["Action"])]


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("handler", sorted(EXPECTED_ACTIONS))
def test_each_function_has_exactly_the_actions_its_code_calls(
    synthesized: Synthesized, stack: str, handler: str
) -> None:
    settings = synthesized.settings[stack]
    expected = set(EXPECTED_ACTIONS[handler])
    if settings.secure_string_key_arn is not None:
        expected |= SECURE_STRING_ACTIONS
    elif settings.secure_strings:
        expected.add("ssm:DescribeParameters")
    if settings.tracing:
        expected |= TRACING_ACTIONS
    if any(p.ami_parameter for p in settings.presets):
        expected.add("ec2:DescribeImages")  # Parameter Store asks it of an AMI parameter's writer
    if any(p.target_accounts for p in settings.presets):
        expected.add("sts:AssumeRole")  # every writer converges the target accounts too
    granted = role_actions(synthesized.templates[stack], handler)
    assert sorted(set(granted)) == sorted(expected)
    # Each action in one statement only: no grant hides behind a second one.
    assert len(granted) == len(set(granted)), sorted(granted)


def test_the_exact_action_tests_cover_both_option_sets(synthesized: Synthesized) -> None:
    example, full = synthesized.settings["Example"], synthesized.settings["Full"]
    assert (example.secure_string_key_arn, example.secure_strings, example.tracing) == (
        None,
        False,
        False,
    )
    assert full.secure_string_key_arn == KEY_ARN and full.tracing


def test_no_function_may_put_or_query_items() -> None:
    """No code path calls PutItem, Query or a batch write (docs/adapters.md): none granted;
    only the reconciler reads in batches (its confirms)."""
    for actions in (STATE_TABLE_ACTIONS, DEPLOY_TABLE_ACTIONS, RECONCILE_TABLE_ACTIONS):
        assert not {"dynamodb:PutItem", "dynamodb:Query", "dynamodb:BatchWriteItem"} & set(actions)
    assert "dynamodb:BatchGetItem" not in STATE_TABLE_ACTIONS + DEPLOY_TABLE_ACTIONS
    assert sorted(DEPLOY_TABLE_ACTIONS) == [
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
    ]
    assert sorted(RECONCILE_TABLE_ACTIONS) == [
        "dynamodb:BatchGetItem",
        "dynamodb:GetItem",
        "dynamodb:Scan",
        "dynamodb:UpdateItem",
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_table_access_is_per_item_under_the_amistate_keys(
    synthesized: Synthesized, stack: str
) -> None:
    template = synthesized.templates[stack]
    for handler, actions in (
        (STATE_HANDLER, STATE_TABLE_ACTIONS),
        (DEPLOY_HANDLER, DEPLOY_TABLE_ACTIONS),
        (RECONCILE_HANDLER, RECONCILE_TABLE_ACTIONS),
    ):
        table = [
            s
            for s in role_statements(template, handler)
            if any(a.startswith("dynamodb:") for a in _listed(s["Action"]))
        ]
        assert len(table) == 1, handler
        assert sorted(_listed(table[0]["Action"])) == sorted(actions)
        assert table[0]["Condition"] == {
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["AMI#*", "PIPELINE#*"]}
        }
    assert "dynamodb:Scan" not in STATE_TABLE_ACTIONS + DEPLOY_TABLE_ACTIONS


@pytest.mark.parametrize("stack", STACKS)
def test_every_function_writes_the_same_parameters_and_only_deploy_starts_builds(
    synthesized: Synthesized, stack: str
) -> None:
    template = synthesized.templates[stack]
    state = set(role_actions(template, STATE_HANDLER))
    deploy = set(role_actions(template, DEPLOY_HANDLER))
    reconcile = set(role_actions(template, RECONCILE_HANDLER))
    converge = {"ssm:GetParameter", "ssm:GetParameterHistory", "ssm:PutParameter"}
    assert converge | {"imagebuilder:GetImage"} <= state
    assert converge | {"ssm:GetParameters"} <= reconcile
    # Create/Update push the Config through the same write-and-confirm loop (no batch read).
    assert converge <= deploy
    assert "ssm:GetParameters" not in state | deploy
    assert "imagebuilder:StartImagePipelineExecution" not in state | reconcile
    # Only what Parameter Store asks of an AMI parameter's writer (the example has one).
    assert {a for a in state | deploy if a.startswith("ec2:")} == {"ec2:DescribeImages"}
    assert "imagebuilder:StartImagePipelineExecution" in deploy
    # The three parameter statements name the same parameters: every region, one prefix,
    # and each AMI parameter by its exact name.
    settings = synthesized.settings[stack]
    regions = (REGION, *settings.extra_regions)
    names = [p.ami_parameter for p in settings.presets if p.ami_parameter]
    assert names == ["/spot-runner/amis/linux-x64"]
    for handler in (STATE_HANDLER, DEPLOY_HANDLER, RECONCILE_HANDLER):
        parameters = _statement(template, handler, "PresetParameters")
        assert [render(r) for r in _listed(parameters["Resource"])] == [
            f"arn:{PARTITION}:ssm:{region}:{ACCOUNT}:parameter/spot-runner/configs/*"
            for region in regions
        ] + [
            f"arn:{PARTITION}:ssm:{region}:{ACCOUNT}:parameter{n}"
            for n in names
            for region in regions
        ]
    (start,) = [
        s
        for s in role_statements(template, DEPLOY_HANDLER)
        if s["Action"] == "imagebuilder:StartImagePipelineExecution"
    ]
    pipelines = resources_of_type(template, "AWS::ImageBuilder::ImagePipeline")
    assert sorted(render(r) for r in start["Resource"]) == sorted(f"<{k}.Arn>" for k in pipelines)


def test_kms_and_describe_parameters_only_with_a_secure_string_key(
    synthesized: Synthesized,
) -> None:
    def actions(stack: str) -> set[str]:
        return {
            action
            for _, statement in statements(synthesized.templates[stack])
            for action in _listed(statement["Action"])
        }

    assert synthesized.settings["Example"].secure_string_key_arn is None
    assert not {a for a in actions("Example") if a.startswith("kms:")}
    assert "ssm:DescribeParameters" not in actions("Example")
    assert not {a for a in actions("Example") if a.startswith("xray:")}
    assert synthesized.settings["Full"].secure_string_key_arn == KEY_ARN
    assert set(KMS_ACTIONS) | {"ssm:DescribeParameters"} <= actions("Full")
    keys = [
        statement
        for _, statement in statements(synthesized.templates["Full"])
        if statement.get("Sid") == "SecureStringKey"
    ]
    # The state, deploy and reconcile functions: all three write the parameters.
    assert len(keys) == 3
    for kms in keys:
        assert kms["Resource"] == KEY_ARN
        assert kms["Condition"] == {
            "StringEquals": {
                "kms:ViaService": [
                    f"ssm.{REGION}.amazonaws.com",
                    f"ssm.{EXTRA_REGION}.amazonaws.com",
                ]
            }
        }


def _statement(template: dict[str, Any], handler: str, sid: str) -> dict[str, Any]:
    (found,) = [s for s in role_statements(template, handler) if s.get("Sid") == sid]
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_the_reconciler_reads_its_presets_builds_and_amis_only(
    synthesized: Synthesized, stack: str
) -> None:
    template = synthesized.templates[stack]
    settings = synthesized.settings[stack]
    pipelines = resources_of_type(template, "AWS::ImageBuilder::ImagePipeline")
    listing = _statement(template, RECONCILE_HANDLER, "ListPresetBuilds")
    assert listing["Action"] == "imagebuilder:ListImagePipelineImages"
    assert sorted(render(r) for r in listing["Resource"]) == sorted(f"<{k}.Arn>" for k in pipelines)
    builds = _statement(template, RECONCILE_HANDLER, "ReadPresetBuilds")
    assert sorted(builds["Action"]) == [
        "imagebuilder:GetImage",
        "imagebuilder:ListWorkflowExecutions",
    ]
    assert sorted(render(r) for r in builds["Resource"]) == sorted(
        f"arn:{PARTITION}:imagebuilder:{REGION}:{ACCOUNT}:image/{settings.name_prefix}-{p.name}-*"
        for p in settings.presets
    )
    describe = _statement(template, RECONCILE_HANDLER, "DescribeAmis")
    assert (describe["Action"], describe["Resource"]) == ("ec2:DescribeImages", "*")


@pytest.mark.parametrize("stack", STACKS)
def test_the_reconciler_may_set_and_remove_only_its_deployments_in_use_tags_on_amis(
    synthesized: Synthesized, stack: str
) -> None:
    """Its own two keys (named by the stack); removing also the legacy shared key."""
    template = synthesized.templates[stack]
    regions = (REGION, *synthesized.settings[stack].extra_regions)
    keys = InUseKeys.of(stack)
    assert synthesized.stacks[stack].amistate.in_use == keys
    expected = {
        "SetOwnInUseTags": ("ec2:CreateTags", [keys.protect, keys.presets]),
        "RemoveOwnInUseTags": ("ec2:DeleteTags", [keys.protect, keys.presets, LEGACY_KEY]),
    }
    for sid, (action, allowed) in expected.items():
        tags = _statement(template, RECONCILE_HANDLER, sid)
        assert tags["Action"] == action
        assert [render(r) for r in _listed(tags["Resource"])] == [
            f"arn:{PARTITION}:ec2:{region}::image/*" for region in regions
        ]
        assert tags["Condition"] == {
            "ForAllValues:StringEquals": {"aws:TagKeys": allowed},
            "Null": {"aws:TagKeys": "false"},
        }
    assert keys.protect == f"amistate:in-use:{stack}"
    assert LEGACY_KEY == "amistate:in-use"
    assert sorted(action for action, _ in expected.values()) == sorted(TAG_ACTIONS)
    # No other statement of any role names an EC2 write.
    writers = [
        str(statement.get("Sid"))
        for _, statement in statements(template)
        if set(_listed(statement["Action"])) & set(TAG_ACTIONS)
    ]
    assert sorted(writers) == sorted(expected)


@pytest.mark.parametrize("stack", STACKS)
def test_the_reconciler_runs_on_its_schedule(synthesized: Synthesized, stack: str) -> None:
    template = synthesized.templates[stack]
    functions = resources_of_type(template, "AWS::Lambda::Function")
    (function_id,) = [
        k for k, f in functions.items() if f["Properties"]["Handler"] == RECONCILE_HANDLER
    ]
    scheduled = [
        r
        for r in resources_of_type(template, "AWS::Events::Rule").values()
        if "ScheduleExpression" in r["Properties"]
    ]
    assert len(scheduled) == 1
    (rule,) = scheduled
    expected = synthesized.settings[stack].reconcile_schedule
    assert rule["Properties"]["ScheduleExpression"] == expected
    assert rule["Properties"]["State"] == "ENABLED"
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
    assert functions[function_id]["Properties"]["Timeout"] == 300
