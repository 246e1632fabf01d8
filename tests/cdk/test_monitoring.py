"""Alarms, their topic, the dashboard, the stack outputs and the lifecycle policies."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import pytest
from aws_cdk import App, Environment
from aws_cdk.assertions import Template

from examples.cdk.amistate_cdk import AmiStateStack, LifecycleSpec, metrics
from examples.cdk.amistate_cdk.functions import DEPLOY_HANDLER, RECONCILE_HANDLER, STATE_HANDLER
from examples.cdk.amistate_cdk.settings import SettingsError
from examples.cdk.amistate_cdk.stack import with_context
from tests.cdk.synth import (
    ACCOUNT,
    ALARM_EMAIL,
    REGION,
    STACKS,
    Synthesized,
    fake_asset,
    resources_of_type,
)

#: The metrics contract as the emitter is told it (issue 15): a change here is a
#: change of contract, made on purpose on both sides.
CONTRACT = {
    "namespace": "amistate",
    "service": [
        "BuildsFailed",
        "ParameterWrites",
        "ConvergeRounds",
        "ReconcileRepairs",
        "ReconcileFallbacks",
        "Errors",
        "RejectedNotifications",
        "Promotions",
        "CandidatesWaiting",
        "RejectedBuilds",
    ],
    "decisions": ["applied", "applied-ami", "stale", "duplicate", "ignored", "rejected"],
    "preset": ["AmiAgeDays", "BuildFailed", "CandidateAgeHours"],
}


#: The alarms on a service-wide amistate metric.
SERVICE_ALARMS = (
    "BuildFailed",
    "ReconcileRepaired",
    "ReconcileFellBack",
    "ReportedErrors",
    "NotificationRejected",
)


def test_the_metrics_module_is_the_documented_contract() -> None:
    assert CONTRACT["namespace"] == metrics.NAMESPACE
    assert list(metrics.SERVICE_METRICS) == CONTRACT["service"]
    assert list(metrics.DECISION_VALUES) == CONTRACT["decisions"]
    assert list(metrics.PRESET_METRICS) == CONTRACT["preset"]
    assert metrics.DECISIONS == "Decisions"
    assert metrics.service_dimensions() == {"Service": "amistate"}
    assert metrics.decision_dimensions("stale") == {"Service": "amistate", "Decision": "stale"}
    assert metrics.preset_dimensions("p") == {"Service": "amistate", "Preset": "p"}
    with pytest.raises(ValueError, match="unknown decision"):
        metrics.decision_dimensions("maybe")


def _alarms(synthesized: Synthesized, stack: str) -> dict[str, dict[str, Any]]:
    """Alarm properties by the name in their description (``amistate <Name>: ...``)."""
    found = {}
    for alarm in resources_of_type(synthesized.templates[stack], "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        name = re.match(r"amistate (\S+):", props["AlarmDescription"])
        assert name, props["AlarmDescription"]
        assert "docs/operations.md#alarms" in props["AlarmDescription"]
        found[name.group(1)] = props
    return found


def _dims(props: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in props["Dimensions"]}


def _ids(synthesized: Synthesized, stack: str, kind: str) -> list[str]:
    return list(resources_of_type(synthesized.templates[stack], kind))


def _alarm_topic(synthesized: Synthesized, stack: str) -> str:
    """The alarm topic (the Full stack also has Image Builder's notification topic)."""
    (topic,) = [t for t in _ids(synthesized, stack, "AWS::SNS::Topic") if "AlarmTopic" in t]
    return topic


def _function(synthesized: Synthesized, stack: str, handler: str) -> str:
    (found,) = [
        k
        for k, f in resources_of_type(synthesized.templates[stack], "AWS::Lambda::Function").items()
        if f["Properties"]["Handler"] == handler
    ]
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_alarm_watches_its_metric_and_notifies_the_topic(
    synthesized: Synthesized, stack: str
) -> None:
    settings = synthesized.settings[stack]
    alarms = _alarms(synthesized, stack)
    topic = _alarm_topic(synthesized, stack)
    # Every dead-letter queue alarms when not empty; the state queue (a work queue whose
    # failures end in FailedInvocations) holds events in normal operation.
    queues = {
        q: q.removeprefix("AmiState")[: -len("XXXXXXXX")]
        for q in _ids(synthesized, stack, "AWS::SQS::Queue")
        if not q.startswith("AmiStateStateEvents")
    }

    def amistate(name: str, metric: str, statistic: str = "Sum") -> None:
        props = alarms.pop(name)
        assert (props["Namespace"], props["MetricName"]) == ("amistate", metric), name
        assert props["Statistic"] == statistic, name
        assert props["AlarmActions"] == [{"Ref": topic}], name

    amistate("BuildFailed", "BuildsFailed")
    amistate("ReconcileRepaired", "ReconcileRepairs")
    amistate("ReconcileFellBack", "ReconcileFallbacks")
    amistate("ReportedErrors", "Errors")
    amistate("NotificationRejected", "RejectedNotifications")
    # The Full stack's first preset soaks its candidates: it has the wait alarm.
    assert any(p.rollout_policy == "soak" for p in settings.presets) == (stack == "Full")
    for preset in settings.presets:
        slug = preset.name.lower().replace(".", "-")
        props = alarms[f"AmiAge-{slug}"]
        assert _dims(props) == {"Service": "amistate", "Preset": preset.name}
        assert props["Threshold"] == settings.ami_max_age_days
        assert props["ComparisonOperator"] == "GreaterThanThreshold"
        assert props["Period"] == 3600
        amistate(f"AmiAge-{slug}", "AmiAgeDays", "Maximum")
        if preset.rollout_policy in ("manual", "soak"):  # a candidate may wait: its alarm
            waiting = alarms[f"CandidateWaiting-{slug}"]
            assert _dims(waiting) == {"Service": "amistate", "Preset": preset.name}
            assert waiting["Threshold"] == settings.candidate_max_wait_hours
            assert waiting["ComparisonOperator"] == "GreaterThanThreshold"
            amistate(f"CandidateWaiting-{slug}", "CandidateAgeHours", "Maximum")
    for name in SERVICE_ALARMS:
        assert name not in alarms  # popped above, each with the service dimension only
    for queue_id, queue_name in queues.items():
        props = alarms.pop(f"{queue_name}NotEmpty")
        assert props["Namespace"] == "AWS/SQS"
        assert props["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert _dims(props) == {"QueueName": {"Fn::GetAtt": [queue_id, "QueueName"]}}
        assert (props["Threshold"], props["ComparisonOperator"]) == (
            1,
            "GreaterThanOrEqualToThreshold",
        )
        assert props["AlarmActions"] == [{"Ref": topic}]
    for name, handler in (
        ("State", STATE_HANDLER),
        ("Reconcile", RECONCILE_HANDLER),
        ("Deploy", DEPLOY_HANDLER),
    ):
        props = alarms.pop(f"{name}FunctionErrors")
        assert (props["Namespace"], props["MetricName"]) == ("AWS/Lambda", "Errors")
        assert _dims(props) == {"FunctionName": {"Ref": _function(synthesized, stack, handler)}}
        assert props["AlarmActions"] == [{"Ref": topic}]
    not_running = alarms.pop("ReconcilerNotRunning")
    assert not_running["MetricName"] == "Invocations"
    assert not_running["ComparisonOperator"] == "LessThanThreshold"
    assert not_running["TreatMissingData"] == "breaching"
    disabled = alarms.pop("PipelineDisabled")
    assert (disabled["Namespace"], disabled["MetricName"]) == ("AWS/Events", "TriggeredRules")
    assert "AlarmActions" not in disabled  # the rule sends the event itself
    assert alarms == {}


@pytest.mark.parametrize("stack", STACKS)
def test_service_wide_alarms_have_the_service_dimension_only(
    synthesized: Synthesized, stack: str
) -> None:
    alarms = _alarms(synthesized, stack)
    for name in SERVICE_ALARMS:
        assert _dims(alarms[name]) == {"Service": "amistate"}, name
        assert alarms[name]["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize("stack", STACKS)
def test_a_disabled_pipeline_event_goes_to_the_alarm_topic(
    synthesized: Synthesized, stack: str
) -> None:
    topic = _alarm_topic(synthesized, stack)
    rules = [
        r["Properties"]
        for r in resources_of_type(synthesized.templates[stack], "AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("detail-type")
        == ["EC2 Image Builder Image Pipeline Automatically Disabled"]
    ]
    (rule,) = rules
    assert rule["EventPattern"] == {
        "source": ["aws.imagebuilder"],
        "detail-type": ["EC2 Image Builder Image Pipeline Automatically Disabled"],
    }
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Ref": topic}
    (policy,) = [
        p
        for p in resources_of_type(synthesized.templates[stack], "AWS::SNS::TopicPolicy").values()
        if p["Properties"]["Topics"] == [{"Ref": topic}]
    ]
    principals = [s.get("Principal") for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    assert {"Service": "events.amazonaws.com"} in principals


def test_the_alarm_email_is_subscribed_only_when_given(synthesized: Synthesized) -> None:
    assert _ids(synthesized, "Example", "AWS::SNS::Subscription") == []
    (subscription,) = [
        s
        for s in resources_of_type(synthesized.templates["Full"], "AWS::SNS::Subscription").values()
        if s["Properties"]["Protocol"] == "email"
    ]
    assert subscription["Properties"]["Endpoint"] == ALARM_EMAIL
    topic = subscription["Properties"]["TopicArn"]
    assert topic == {"Ref": _alarm_topic(synthesized, "Full")}


def _dashboard(synthesized: Synthesized, stack: str) -> dict[str, Any]:
    (dashboard,) = resources_of_type(
        synthesized.templates[stack], "AWS::CloudWatch::Dashboard"
    ).values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    text = "".join(p if isinstance(p, str) else "<token>" for p in parts)
    body: dict[str, Any] = json.loads(text)
    return body


def _widget_metrics(body: dict[str, Any]) -> dict[str, list[list[Any]]]:
    return {
        w["properties"]["title"]: w["properties"]["metrics"]
        for w in body["widgets"]
        if "metrics" in w.get("properties", {})
    }


@pytest.mark.parametrize("stack", STACKS)
def test_the_dashboard_shows_age_and_failures_per_preset_and_decisions(
    synthesized: Synthesized, stack: str
) -> None:
    presets = [p.name for p in synthesized.settings[stack].presets]
    widgets = _widget_metrics(_dashboard(synthesized, stack))

    def series(title: str) -> list[tuple[str, ...]]:
        return [tuple(str(x) for x in m if not isinstance(x, dict)) for m in widgets[title]]

    for title in ("AMI age now (days), per preset", "AMI age (days), per preset"):
        assert series(title) == [
            ("amistate", "AmiAgeDays", "Preset", p, "Service", "amistate") for p in presets
        ]
    failed = "Failed builds in the last 7 days, per preset (0: the last builds succeeded)"
    assert series(failed) == [
        ("amistate", "BuildFailed", "Preset", p, "Service", "amistate") for p in presets
    ]
    assert series("Decisions over time") == [
        ("amistate", "Decisions", "Decision", d, "Service", "amistate")
        for d in CONTRACT["decisions"]
    ]
    shown = {s[1] for ws in widgets for s in series(ws)}
    assert set(CONTRACT["service"]) <= shown
    alarms = [w for w in _dashboard(synthesized, stack)["widgets"] if w["type"] == "alarm"]
    assert len(alarms) == 1
    assert len(alarms[0]["properties"]["alarms"]) == len(_alarms(synthesized, stack))


@pytest.mark.parametrize("stack", STACKS)
def test_outputs_name_the_table_functions_dashboard_and_each_presets_pipeline_and_parameter(
    synthesized: Synthesized, stack: str
) -> None:
    template = synthesized.templates[stack]
    settings = synthesized.settings[stack]
    outputs = {k: o["Value"] for k, o in template["Outputs"].items()}
    table = (
        settings.table_name
        if settings.table_name
        else {"Ref": _ids(synthesized, stack, "AWS::DynamoDB::Table")[0]}
    )
    assert outputs["TableName"] == table
    for name, handler in (
        ("StateFunctionName", STATE_HANDLER),
        ("ReconcileFunctionName", RECONCILE_HANDLER),
        ("DeployFunctionName", DEPLOY_HANDLER),
    ):
        assert outputs[name] == {"Ref": _function(synthesized, stack, handler)}
    (dashboard,) = _ids(synthesized, stack, "AWS::CloudWatch::Dashboard")
    assert outputs["DashboardUrl"] == {
        "Fn::Join": [
            "",
            [
                "https://console.aws.amazon.com/cloudwatch/home?region=",
                {"Ref": "AWS::Region"},
                "#dashboards/dashboard/",
                {"Ref": dashboard},
            ],
        ]
    }
    assert outputs["AlarmTopicArn"] == {"Ref": _alarm_topic(synthesized, stack)}
    pipelines = {
        p["Properties"]["Tags"]["amistate:preset"]: k
        for k, p in resources_of_type(template, "AWS::ImageBuilder::ImagePipeline").items()
    }
    described = {o["Description"]: o["Value"] for o in template["Outputs"].values()}
    for preset in settings.presets:
        assert described[f"Image Builder pipeline of preset {preset.name}"] == {
            "Fn::GetAtt": [pipelines[preset.name], "Arn"]
        }
        assert described[f"SSM parameter of preset {preset.name}"] == (
            f"/spot-runner/configs/{preset.name}"
        )
    for preset in settings.presets:
        if preset.ami_parameter is not None:
            what = f"AMI parameter of preset {preset.name} (resolve:ssm: in launch templates)"
            assert described[what] == preset.ami_parameter
    assert outputs["Deployment"] == stack
    assert outputs["InUseTagKey"] == f"amistate:in-use:{stack}"
    amis = sum(1 for p in settings.presets if p.ami_parameter)
    templates = sum(1 for p in settings.presets if p.launch_template)
    assert len(outputs) == 8 + 2 * len(settings.presets) + amis + templates


@pytest.mark.parametrize("stack", STACKS)
def test_each_preset_has_a_lifecycle_policy_that_spares_the_amis_in_use(
    synthesized: Synthesized, stack: str
) -> None:
    template = synthesized.templates[stack]
    settings = synthesized.settings[stack]
    policies = {
        p["Properties"]["Tags"]["amistate:preset"]: p["Properties"]
        for p in resources_of_type(template, "AWS::ImageBuilder::LifecyclePolicy").values()
    }
    recipes = {
        r["Properties"]["Tags"]["amistate:preset"]: k
        for k, r in resources_of_type(template, "AWS::ImageBuilder::ImageRecipe").items()
    }
    roles = {
        k
        for k, r in resources_of_type(template, "AWS::IAM::Role").items()
        if r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]
        == {"Service": "imagebuilder.amazonaws.com"}
    }
    assert len(roles) == 1
    (role,) = roles
    expected_filter = (
        {"Type": "COUNT", "Value": 10}
        if stack == "Example"
        else {"Type": "AGE", "Value": 90, "Unit": "DAYS", "RetainAtLeast": 5}
    )
    assert set(policies) == {p.name for p in settings.presets}
    for preset in settings.presets:
        props = policies[preset.name]
        assert props["ResourceType"] == "AMI_IMAGE"
        assert props["Status"] == "ENABLED"
        assert props["ExecutionRole"] == {"Fn::GetAtt": [role, "Arn"]}
        (detail,) = props["PolicyDetails"]
        assert detail["Action"] == {
            "Type": "DELETE",
            "IncludeResources": {"Amis": True, "Snapshots": True},
        }
        assert detail["Filter"] == expected_filter
        spared = {f"amistate:in-use:{stack}": "true"}
        assert detail["ExclusionRules"] == {"Amis": {"TagMap": spared}}
        assert props["ResourceSelection"] == {
            "Recipes": [
                {
                    "Name": {"Fn::GetAtt": [recipes[preset.name], "Name"]},
                    "SemanticVersion": preset.recipe.version,
                }
            ]
        }


def test_the_lifecycle_policy_can_be_turned_off(synthesized: Synthesized) -> None:
    app = App()
    settings = replace(synthesized.settings["Example"], lifecycle=LifecycleSpec(enabled=False))
    stack = AmiStateStack(
        app,
        "NoLifecycle",
        settings=settings,
        asset_dir=fake_asset("python3.12"),
        env=Environment(account=ACCOUNT, region=REGION),
    )
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::ImageBuilder::LifecyclePolicy", 0)
    template.resource_properties_count_is(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [{"Principal": {"Service": "imagebuilder.amazonaws.com"}}]
            }
        },
        0,
    )


def test_context_overrides_the_reconcile_schedule_age_and_email(
    synthesized: Synthesized,
) -> None:
    base = synthesized.settings["Example"]
    assert with_context(base, App()) is base
    app = App(
        context={
            "reconcileSchedule": "rate(5 minutes)",
            "amiMaxAgeDays": "21",
            "alarmEmail": "ci@example.org",
        }
    )
    changed = with_context(base, app)
    assert changed.reconcile_schedule == "rate(5 minutes)"
    assert changed.ami_max_age_days == 21
    assert changed.alarm_email == "ci@example.org"
    assert changed.presets == base.presets
    for context, message in (
        ({"amiMaxAgeDays": "two weeks"}, "amiMaxAgeDays"),
        ({"amiMaxAgeDays": "0"}, "amiMaxAgeDays"),
        ({"reconcileSchedule": "hourly"}, "reconcileSchedule"),
        ({"alarmEmail": "nobody"}, "alarmEmail"),
    ):
        with pytest.raises(SettingsError, match=message):
            with_context(base, App(context=context))
