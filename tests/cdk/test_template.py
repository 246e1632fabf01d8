"""The synthesized templates say what the spec and the shims' contract require."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from examples.cdk.amistate_cdk.delivery import SSM_WRITES_PER_SECOND
from examples.cdk.amistate_cdk.functions import DEPLOY_HANDLER, STATE_HANDLER
from examples.cdk.amistate_cdk.settings import (
    DEFAULT_SCHEDULE,
    pipeline_schedule,
    resource_slug,
)
from tests.cdk.synth import (
    EXAMPLE_ASSET_RUNTIME,
    EXISTING_TABLE,
    STACKS,
    Synthesized,
    resources_of_type,
    rule_event_pattern,
)

EXPECTED_PATTERN = {
    "source": ["aws.imagebuilder"],
    "detail-type": ["EC2 Image Builder Image State Change"],
    "detail": {"state": {"status": ["AVAILABLE", "FAILED", "CANCELLED"]}},
}


def template(synthesized: Synthesized, stack: str) -> Template:
    return Template.from_json(synthesized.templates[stack])


def _state_rule(synthesized: Synthesized, stack: str) -> tuple[str, dict[str, Any]]:
    """The rule of the image state changes (the stack has others: schedule, alarms)."""
    rules = resources_of_type(synthesized.templates[stack], "AWS::Events::Rule")
    (found,) = [
        (k, r)
        for k, r in rules.items()
        if r["Properties"].get("EventPattern", {}).get("detail-type")
        == ["EC2 Image Builder Image State Change"]
    ]
    return found


def _one(synthesized: Synthesized, stack: str, kind: str) -> tuple[str, dict[str, Any]]:
    found = resources_of_type(synthesized.templates[stack], kind)
    assert len(found) == 1, f"{stack}: expected one {kind}, found {sorted(found)}"
    ((logical_id, resource),) = found.items()
    return logical_id, resource


@pytest.mark.parametrize("stack", STACKS)
def test_rule_matches_exactly_the_terminal_image_states(
    synthesized: Synthesized, stack: str
) -> None:
    assert rule_event_pattern(stack) == EXPECTED_PATTERN
    # Three rules: image states -> state function, the reconciler's schedule,
    # and "pipeline automatically disabled" -> the alarm topic.
    template(synthesized, stack).resource_count_is("AWS::Events::Rule", 3)


def _state_queue(synthesized: Synthesized, stack: str) -> tuple[str, dict[str, Any]]:
    """The queue between the rule and the state function: the one with a redrive policy."""
    queues = resources_of_type(synthesized.templates[stack], "AWS::SQS::Queue")
    (found,) = [(k, q) for k, q in queues.items() if "RedrivePolicy" in q["Properties"]]
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_rule_targets_the_state_queue_with_retries_and_a_dead_letter_queue(
    synthesized: Synthesized, stack: str
) -> None:
    queue_id, _ = _state_queue(synthesized, stack)
    dlq_ids = [k for k in resources_of_type(synthesized.templates[stack], "AWS::SQS::Queue")]
    _, rule = _state_rule(synthesized, stack)
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    dlq = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert dlq in dlq_ids and dlq != queue_id


@pytest.mark.parametrize("stack", STACKS)
def test_the_state_function_takes_batches_at_capped_concurrency_within_ssm_write_rate(
    synthesized: Synthesized, stack: str
) -> None:
    """Issue 24: the storm converges at SSM's write limit (docs/performance.md)."""
    resources = synthesized.templates[stack]["Resources"]
    function_id = _function_id(synthesized, stack, STATE_HANDLER)
    queue_id, queue = _state_queue(synthesized, stack)
    _, mapping = _one(synthesized, stack, "AWS::Lambda::EventSourceMapping")
    props = mapping["Properties"]
    assert props["FunctionName"] == {"Ref": function_id}
    assert props["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert (props["BatchSize"], props["MaximumBatchingWindowInSeconds"]) == (10, 1)
    concurrency = props["ScalingConfig"]["MaximumConcurrency"]
    assert concurrency == 2
    # Each container's pace times the containers: exactly the account's write rate.
    function = resources[function_id]["Properties"]
    rate = float(function["Environment"]["Variables"]["AMISTATE_SSM_WRITE_RATE"])
    assert rate * concurrency == SSM_WRITES_PER_SECOND
    # A failing record is received 3 times, 6 function timeouts apart, then dead-lettered.
    assert queue["Properties"]["VisibilityTimeout"] == 6 * function["Timeout"]
    redrive = queue["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == 3
    dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert (
        resources[dlq]["Type"] == "AWS::SQS::Queue"
        and "RedrivePolicy" not in resources[dlq]["Properties"]
    )
    # Only the state function reads the queue; nothing invokes it asynchronously any more.
    assert not resources_of_type(synthesized.templates[stack], "AWS::Lambda::EventInvokeConfig")


@pytest.mark.parametrize("stack", STACKS)
def test_queues_are_encrypted_and_refuse_plain_http(synthesized: Synthesized, stack: str) -> None:
    t = template(synthesized, stack)
    t.resource_count_is("AWS::SQS::Queue", 3)
    t.all_resources_properties(
        "AWS::SQS::Queue",
        {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 14 * 24 * 3600},
    )
    policies = resources_of_type(synthesized.templates[stack], "AWS::SQS::QueuePolicy")
    assert len(policies) == 3
    for policy in policies.values():
        deny_http = policy["Properties"]["PolicyDocument"]["Statement"][0]
        assert deny_http["Effect"] == "Deny"
        assert deny_http["Action"] == "sqs:*"
        assert deny_http["Principal"] == {"AWS": "*"}
        assert deny_http["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize("stack", STACKS)
def test_functions_run_the_shims_on_the_asset_runtime_with_the_contract_environment(
    synthesized: Synthesized, stack: str
) -> None:
    settings = synthesized.settings[stack]
    # Example: the package's RUNTIME file; Full: no file, the synthesizing interpreter.
    runtime = (
        EXAMPLE_ASSET_RUNTIME
        if stack == "Example"
        else f"python{sys.version_info.major}.{sys.version_info.minor}"
    )
    t = template(synthesized, stack)
    table = (
        EXISTING_TABLE
        if settings.table_name
        else {"Ref": _one(synthesized, stack, "AWS::DynamoDB::Table")[0]}
    )
    environment: dict[str, Any] = {
        "AMISTATE_TABLE": table,
        "AMISTATE_PARAMETER_PREFIX": "/spot-runner/configs",
        "AMISTATE_DEPLOYMENT": stack,
    }
    if settings.extra_regions:
        environment["AMISTATE_EXTRA_REGIONS"] = ",".join(settings.extra_regions)
    if settings.history_limit is not None:
        environment["AMISTATE_HISTORY_LIMIT"] = str(settings.history_limit)
    for handler in (STATE_HANDLER, DEPLOY_HANDLER):
        t.has_resource_properties(
            "AWS::Lambda::Function",
            {
                "Handler": handler,
                "Runtime": runtime,
                "Environment": {"Variables": environment},
                "TracingConfig": Match.absent() if not settings.tracing else {"Mode": "Active"},
                "LoggingConfig": {"LogGroup": {"Ref": Match.any_value()}},
            },
        )


@pytest.mark.parametrize("stack", STACKS)
def test_one_scheduled_pipeline_per_preset(synthesized: Synthesized, stack: str) -> None:
    settings = synthesized.settings[stack]
    t = template(synthesized, stack)
    for kind in (
        "AWS::ImageBuilder::ImagePipeline",
        "AWS::ImageBuilder::ImageRecipe",
        "AWS::ImageBuilder::InfrastructureConfiguration",
        "AWS::ImageBuilder::DistributionConfiguration",
    ):
        t.resource_count_is(kind, len(settings.presets))
    for preset in settings.presets:
        schedule: dict[str, Any] = {
            "ScheduleExpression": pipeline_schedule(settings, preset),
            # Explicit: the default would skip builds when no dependency changed.
            "PipelineExecutionStartCondition": "EXPRESSION_MATCH_ONLY",
        }
        if settings.schedule_timezone:
            schedule["Timezone"] = settings.schedule_timezone
        t.has_resource_properties(
            "AWS::ImageBuilder::ImagePipeline",
            {
                "Name": f"{settings.name_prefix}-{resource_slug(preset.name)}",
                "Schedule": schedule,
                "Status": "ENABLED",
                "Tags": {"amistate:preset": preset.name},
            },
        )


def test_the_example_builds_weekly_on_sunday_at_a_minute_of_its_own(
    synthesized: Synthesized,
) -> None:
    """The default schedule, spread over the hour: minute = sha256(preset name) mod 60."""
    assert synthesized.settings["Example"].schedule == DEFAULT_SCHEDULE == "cron(0 3 ? * SUN *)"
    schedules = {
        pipeline["Properties"]["Tags"]["amistate:preset"]: pipeline["Properties"]["Schedule"]
        for pipeline in resources_of_type(
            synthesized.templates["Example"], "AWS::ImageBuilder::ImagePipeline"
        ).values()
    }
    # Worked out by hand from hashlib, not from the code under test.
    assert schedules == {
        "linux-x64": {
            "ScheduleExpression": "cron(27 3 ? * SUN *)",
            "PipelineExecutionStartCondition": "EXPRESSION_MATCH_ONLY",
        },
        "linux-arm64": {
            "ScheduleExpression": "cron(5 3 ? * SUN *)",
            "PipelineExecutionStartCondition": "EXPRESSION_MATCH_ONLY",
        },
    }


def test_a_preset_schedule_is_kept_as_written(synthesized: Synthesized) -> None:
    first = synthesized.settings["Full"].presets[0]
    assert first.schedule == "cron(30 4 ? * MON-FRI *)"
    (pipeline,) = [
        p
        for p in resources_of_type(
            synthesized.templates["Full"], "AWS::ImageBuilder::ImagePipeline"
        ).values()
        if p["Properties"]["Tags"]["amistate:preset"] == first.name
    ]
    assert pipeline["Properties"]["Schedule"]["ScheduleExpression"] == "cron(30 4 ? * MON-FRI *)"


@pytest.mark.parametrize("stack", STACKS)
def test_build_instances_use_imdsv2_and_the_image_builder_instance_profile(
    synthesized: Synthesized, stack: str
) -> None:
    t = template(synthesized, stack)
    profile_id, _ = _one(synthesized, stack, "AWS::IAM::InstanceProfile")
    t.all_resources_properties(
        "AWS::ImageBuilder::InfrastructureConfiguration",
        {
            "InstanceProfileName": {"Ref": profile_id},
            "TerminateInstanceOnFailure": True,
            "InstanceMetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2},
        },
    )
    roles = resources_of_type(synthesized.templates[stack], "AWS::IAM::Role")
    managed = {
        r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]: r[
            "Properties"
        ].get("ManagedPolicyArns")
        for r in roles.values()
        if r["Properties"].get("ManagedPolicyArns")
    }

    def policies(*names: str) -> list[dict[str, Any]]:
        return [
            {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, f":iam::aws:policy/{name}"]]}
            for name in names
        ]

    # Only the build instance role and the lifecycle policies' role have managed
    # policies (the AWS documented ones); the Lambda roles have none.
    assert managed == {
        "ec2.amazonaws.com": policies(
            "AmazonSSMManagedInstanceCore", "EC2InstanceProfileForImageBuilder"
        ),
        "imagebuilder.amazonaws.com": policies(
            "service-role/EC2ImageBuilderLifecycleExecutionPolicy"
        ),
    }


@pytest.mark.parametrize("stack", STACKS)
def test_one_custom_resource_per_preset_with_the_contract_properties(
    synthesized: Synthesized, stack: str
) -> None:
    settings = synthesized.settings[stack]
    templ = synthesized.templates[stack]
    provider_fn = [
        k
        for k, r in resources_of_type(templ, "AWS::Lambda::Function").items()
        if r["Properties"]["Handler"] == "framework.onEvent"
    ]
    assert len(provider_fn) == 1, "one Provider framework function for all presets"
    resources = resources_of_type(templ, "Custom::AmiStatePreset")
    assert len(resources) == len(settings.presets)
    by_name = {r["Properties"]["PresetName"]: (k, r) for k, r in resources.items()}
    assert set(by_name) == {p.name for p in settings.presets}
    pipelines = resources_of_type(templ, "AWS::ImageBuilder::ImagePipeline")
    rule_id, _ = _state_rule(synthesized, stack)
    state_fn = _function_id(synthesized, stack, STATE_HANDLER)
    for preset in settings.presets:
        logical_id, resource = by_name[preset.name]
        props = resource["Properties"]
        named = {"AmiParameter"} if preset.ami_parameter else set()
        named |= {"RolloutPolicy"} if preset.rollout_policy else set()
        named |= {"SoakTime"} if preset.soak_time else set()
        named |= {"TargetAccounts"} if preset.target_accounts else set()
        assert (
            set(props)
            == {
                "ServiceToken",
                "PresetName",
                "PipelineArn",
                "Config",
                "StartBuild",
            }
            | named
        )
        assert props.get("AmiParameter") == preset.ami_parameter
        assert props.get("RolloutPolicy") == preset.rollout_policy  # a string, as CloudFormation
        assert props.get("SoakTime") == preset.soak_time
        # A list (the property takes a list or one comma-separated string).
        assert props.get("TargetAccounts") == (list(preset.target_accounts) or None)
        assert props["ServiceToken"] == {"Fn::GetAtt": [provider_fn[0], "Arn"]}
        (pipeline_id,) = [
            k
            for k, p in pipelines.items()
            if p["Properties"]["Tags"]["amistate:preset"] == preset.name
        ]
        assert props["PipelineArn"] == {"Fn::GetAtt": [pipeline_id, "Arn"]}
        # A JSON object in a string, numbers still numbers.
        assert isinstance(props["Config"], str)
        config = json.loads(props["Config"])
        assert config == {
            "instanceTypes": list(preset.instance_types),
            "timeout": preset.timeout,
            "labels": list(preset.labels),
        }
        assert isinstance(config["timeout"], int)
        assert "amiId" not in config
        assert props["StartBuild"] == ("true" if preset.start_build else "false")
        # The first build's completion event must find the rule and the function.
        depends = set(resource.get("DependsOn", []))
        assert {rule_id, state_fn} <= depends, f"{logical_id} DependsOn {sorted(depends)}"


@pytest.mark.parametrize("stack", STACKS)
def test_functions_exist_only_after_their_policies(synthesized: Synthesized, stack: str) -> None:
    """No invocation (first build, first event) can run with half its permissions."""
    templ = synthesized.templates[stack]
    policies = resources_of_type(templ, "AWS::IAM::Policy")
    for logical_id, function in resources_of_type(templ, "AWS::Lambda::Function").items():
        role = function["Properties"]["Role"]["Fn::GetAtt"][0]
        (policy,) = [k for k, p in policies.items() if p["Properties"]["Roles"] == [{"Ref": role}]]
        assert policy in function.get("DependsOn", []), logical_id


def test_a_new_table_is_keyed_pk_sk_on_demand_with_pitr_and_retained(
    synthesized: Synthesized,
) -> None:
    t = template(synthesized, "Example")
    t.resource_count_is("AWS::DynamoDB::Table", 1)
    t.has_resource(
        "AWS::DynamoDB::Table",
        {
            "Properties": {
                "KeySchema": [
                    {"AttributeName": "PK", "KeyType": "HASH"},
                    {"AttributeName": "SK", "KeyType": "RANGE"},
                ],
                "AttributeDefinitions": [
                    {"AttributeName": "PK", "AttributeType": "S"},
                    {"AttributeName": "SK", "AttributeType": "S"},
                ],
                "BillingMode": "PAY_PER_REQUEST",
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "DeletionProtectionEnabled": True,
            },
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_an_existing_table_is_referenced_not_created(synthesized: Synthesized) -> None:
    template(synthesized, "Full").resource_count_is("AWS::DynamoDB::Table", 0)


def test_extra_regions_get_the_ami_distributed(synthesized: Synthesized) -> None:
    settings = synthesized.settings["Full"]
    for dist in resources_of_type(
        synthesized.templates["Full"], "AWS::ImageBuilder::DistributionConfiguration"
    ).values():
        regions = [d["Region"] for d in dist["Properties"]["Distributions"]]
        assert regions == ["eu-west-1", *settings.extra_regions]


def _function_id(synthesized: Synthesized, stack: str, handler: str) -> str:
    (found,) = [
        k
        for k, r in resources_of_type(synthesized.templates[stack], "AWS::Lambda::Function").items()
        if r["Properties"]["Handler"] == handler
    ]
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_a_runner_launch_template_resolves_the_ami_parameter_at_each_launch(
    synthesized: Synthesized, stack: str
) -> None:
    """Opt-in (``launchTemplate``: the Full stack); after its preset's custom resource."""
    template = synthesized.templates[stack]
    settings = synthesized.settings[stack]
    wanted = [p for p in settings.presets if p.launch_template]
    found = resources_of_type(template, "AWS::EC2::LaunchTemplate")
    assert len(found) == len(wanted) == (1 if stack == "Full" else 0)
    states = resources_of_type(template, "Custom::AmiStatePreset")
    for preset, (logical_id, resource) in zip(wanted, found.items(), strict=True):
        data = resource["Properties"]["LaunchTemplateData"]
        assert data["ImageId"] == f"resolve:ssm:{preset.ami_parameter}"
        assert data["MetadataOptions"]["HttpTokens"] == "required"
        (state,) = [k for k, r in states.items() if r["Properties"]["PresetName"] == preset.name]
        assert state in resource["DependsOn"], logical_id
