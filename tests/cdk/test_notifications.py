"""Issue 20: who may write to what the state function reads, in the CDK example.

The state function reads one queue (``StateEvents``). In both stacks its policy
denies ``sqs:SendMessage`` unless the sender sends for the image state rule
(or, with ``notifications``, for Image Builder's notification topic):
``aws:SourceArn``. With ``notifications`` (the Full stack), each preset's
infrastructure configuration names one SNS topic, the topic feeds the same
queue, and its policy denies ``sns:Publish`` to everyone but Image Builder (its
service-linked role, or the service itself). The Example stack has no topic.
"""

from __future__ import annotations

from typing import Any

import pytest

from examples.cdk.amistate_cdk import load_settings
from examples.cdk.amistate_cdk.settings import SettingsError
from tests.cdk.synth import ACCOUNT, STACKS, Synthesized, resources_of_type

IMAGE_BUILDER_ROLE = (
    f":iam::{ACCOUNT}:role/aws-service-role/imagebuilder.amazonaws.com/"
    "AWSServiceRoleForImageBuilder"
)


def _resources(synthesized: Synthesized, stack: str, kind: str) -> dict[str, dict[str, Any]]:
    return resources_of_type(synthesized.templates[stack], kind)


def _one(synthesized: Synthesized, stack: str, kind: str, part: str) -> str:
    (found,) = [k for k in _resources(synthesized, stack, kind) if part in k]
    return found


def _statements(policies: dict[str, dict[str, Any]], key: str, ref: Any) -> list[dict[str, Any]]:
    (policy,) = [p for p in policies.values() if p["Properties"][key] == [ref]]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _joined(value: Any) -> str:
    """An ``Fn::Join`` of strings and references as text (``<Ref>`` for a reference)."""
    if isinstance(value, str):
        return value
    separator, parts = value["Fn::Join"]
    return str(separator).join(p if isinstance(p, str) else f"<{p['Ref']}>" for p in parts)


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_rule_and_the_notification_topic_may_send_to_the_state_queue(
    synthesized: Synthesized, stack: str
) -> None:
    queue = _one(synthesized, stack, "AWS::SQS::Queue", "StateEvents")
    rule = _one(synthesized, stack, "AWS::Events::Rule", "ImageStateRule")
    sources: list[Any] = [{"Fn::GetAtt": [rule, "Arn"]}]
    if synthesized.settings[stack].notifications:
        sources.append({"Ref": _one(synthesized, stack, "AWS::SNS::Topic", "Notifications")})
    statements = _statements(
        _resources(synthesized, stack, "AWS::SQS::QueuePolicy"), "Queues", {"Ref": queue}
    )
    (only,) = [s for s in statements if s.get("Sid") == "OnlyItsSourcesSend"]
    assert (only["Effect"], only["Principal"], only["Action"]) == (
        "Deny",
        {"AWS": "*"},
        "sqs:SendMessage",
    )
    assert only["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}
    assert only["Condition"] == {"ArnNotEquals": {"aws:SourceArn": sources}}
    # What is allowed is allowed to a service, on behalf of one of those sources only.
    allowed = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allowed) == len(sources)
    for allow in allowed:
        actions = allow["Action"] if isinstance(allow["Action"], list) else [allow["Action"]]
        assert "sqs:SendMessage" in actions
        assert allow["Principal"] in (
            {"Service": "events.amazonaws.com"},
            {"Service": "sns.amazonaws.com"},
        )
        (source,) = allow["Condition"]["ArnEquals"].values()
        assert source in sources


def test_without_the_option_there_is_no_notification_topic(synthesized: Synthesized) -> None:
    assert not synthesized.settings["Example"].notifications
    topics = _resources(synthesized, "Example", "AWS::SNS::Topic")
    assert [t for t in topics if "Notifications" in t] == []
    configs = _resources(synthesized, "Example", "AWS::ImageBuilder::InfrastructureConfiguration")
    assert configs and all("SnsTopicArn" not in c["Properties"] for c in configs.values())


def test_every_preset_notifies_the_one_topic_which_feeds_the_state_queue(
    synthesized: Synthesized,
) -> None:
    topic = _one(synthesized, "Full", "AWS::SNS::Topic", "Notifications")
    queue = _one(synthesized, "Full", "AWS::SQS::Queue", "StateEvents")
    configs = _resources(synthesized, "Full", "AWS::ImageBuilder::InfrastructureConfiguration")
    assert len(configs) == len(synthesized.settings["Full"].presets)
    for config in configs.values():
        assert config["Properties"]["SnsTopicArn"] == {"Ref": topic}
    (subscription,) = [
        s["Properties"]
        for s in _resources(synthesized, "Full", "AWS::SNS::Subscription").values()
        if s["Properties"]["Protocol"] == "sqs"
    ]
    assert subscription["TopicArn"] == {"Ref": topic}
    assert subscription["Endpoint"] == {"Fn::GetAtt": [queue, "Arn"]}


def test_only_image_builder_may_publish_to_the_topic(synthesized: Synthesized) -> None:
    topic = _one(synthesized, "Full", "AWS::SNS::Topic", "Notifications")
    statements = _statements(
        _resources(synthesized, "Full", "AWS::SNS::TopicPolicy"), "Topics", {"Ref": topic}
    )
    # Nothing is allowed by the topic's policy: Image Builder publishes with its own
    # role's permissions; the policy only takes them away from everyone else.
    assert [s for s in statements if s["Effect"] == "Allow"] == []
    (only,) = [s for s in statements if s.get("Sid") == "OnlyImageBuilderPublishes"]
    assert (only["Effect"], only["Principal"], only["Action"]) == (
        "Deny",
        {"AWS": "*"},
        "sns:Publish",
    )
    assert only["Resource"] == {"Ref": topic}
    condition = only["Condition"]
    assert set(condition) == {"ArnNotEquals", "StringNotEquals"}  # both must hold to deny
    role = _joined(condition["ArnNotEquals"]["aws:PrincipalArn"])
    assert role == f"arn:<AWS::Partition>{IMAGE_BUILDER_ROLE}"
    assert condition["StringNotEquals"] == {
        "aws:PrincipalServiceName": "imagebuilder.amazonaws.com"
    }


@pytest.mark.parametrize("value", ["yes", 1, "true"])
def test_the_setting_is_a_boolean(value: object) -> None:
    preset = {
        "name": "linux-x64",
        "instanceTypes": ["c7i.large"],
        "timeout": 3600,
        "labels": ["linux"],
        "recipe": {
            "parentImage": "ami-0123456789abcdef0",
            "components": [
                "arn:{partition}:imagebuilder:{region}:aws:component/update-linux/x.x.x"
            ],
        },
    }
    assert load_settings({"presets": [preset], "notifications": True}).notifications
    with pytest.raises(SettingsError, match="notifications"):
        load_settings({"presets": [preset], "notifications": value})
